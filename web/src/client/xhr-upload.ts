import type { Upload } from "./chat-client.js";

/** {@link Upload} in the browser: an XMLHttpRequest, the one browser API that reports upload progress. */
export const xhrUpload: Upload = (url, { method, headers, body }, onProgress) =>
  new Promise((resolve) => {
    const request = new XMLHttpRequest();
    request.open(method, url);
    for (const [name, value] of Object.entries(headers)) request.setRequestHeader(name, value);
    request.upload.onprogress = (event) => {
      if (event.lengthComputable && event.total > 0) onProgress(event.loaded / event.total);
    };
    request.onload = () => resolve(request.status);
    request.onerror = () => resolve(0);
    request.onabort = () => resolve(0);
    request.send(body);
  });
