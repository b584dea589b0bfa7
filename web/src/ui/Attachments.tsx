import { type Attachment, INLINE_MEDIA_TYPES } from "@parley/protocol";
import { useEffect, useState } from "react";

const sizeFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });

/** A byte count as people read it: 512 B, 3.4 KB, 12 MB. */
export function formatSize(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  const units = ["KB", "MB", "GB"];
  let value = bytes / 1000;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${sizeFormat.format(value)} ${units[unit]}`;
}

/**
 * A message's files: raster images as previews (the server serves them as themselves, so an `<img>` shows them and
 * nothing in them runs), everything else as a chip that downloads it (served as an attachment, never as a page).
 * URLs are short-lived, so each is asked for when it is needed.
 */
export function Attachments({
  attachments,
  fileUrl,
}: {
  attachments: readonly Attachment[];
  fileUrl: (id: string) => Promise<string>;
}) {
  return (
    <ul className="attachments" aria-label="Files">
      {attachments.map((attachment) => (
        <li key={attachment.id}>
          {INLINE_MEDIA_TYPES.has(attachment.type) ? (
            <Preview attachment={attachment} fileUrl={fileUrl} />
          ) : (
            <FileChip attachment={attachment} fileUrl={fileUrl} />
          )}
        </li>
      ))}
    </ul>
  );
}

function Preview({ attachment, fileUrl }: { attachment: Attachment; fileUrl: (id: string) => Promise<string> }) {
  const [url, setUrl] = useState<string | undefined>();
  const [failed, setFailed] = useState(false);
  useEffect(() => {
    let live = true;
    fileUrl(attachment.id).then(
      (got) => live && setUrl(got),
      () => live && setFailed(true),
    );
    return () => {
      live = false;
    };
  }, [attachment.id, fileUrl]);
  if (failed) return <FileChip attachment={attachment} fileUrl={fileUrl} />;
  return url === undefined ? (
    <span className="preview preview-loading">Loading {attachment.name}…</span>
  ) : (
    <img className="preview" src={url} alt={attachment.name} loading="lazy" onError={() => setFailed(true)} />
  );
}

function FileChip({ attachment, fileUrl }: { attachment: Attachment; fileUrl: (id: string) => Promise<string> }) {
  const [problem, setProblem] = useState<string | undefined>();
  const open = async () => {
    try {
      setProblem(undefined);
      // Served with `Content-Disposition: attachment`: the browser saves it and the page stays.
      window.location.assign(await fileUrl(attachment.id));
    } catch (error) {
      setProblem(error instanceof Error ? error.message : String(error));
    }
  };
  return (
    <>
      <button type="button" className="file-chip" onClick={open} title={`Download ${attachment.name}`}>
        <span className="file-name">{attachment.name}</span>
        <span className="file-size muted"> {formatSize(attachment.size)}</span>
      </button>
      {problem ? (
        <span className="field-error" role="alert">
          {" "}
          {attachment.name}: {problem}
        </span>
      ) : null}
    </>
  );
}
