import { type FormEvent, useId, useState } from "react";
import { type Credentials, nameProblem } from "../client/chat-client.js";
import { userOfToken } from "../client/session.js";
import { ThemeToggle } from "./ThemeToggle.js";

export function SignIn({
  onSignIn,
  problem,
  theme,
  onToggleTheme,
}: {
  onSignIn: (credentials: Credentials) => void;
  problem: string | undefined;
  theme: string;
  onToggleTheme: () => void;
}) {
  const [mode, setMode] = useState<"dev" | "jwt">("dev");
  const [name, setName] = useState("");
  const [admin, setAdmin] = useState(false);
  const [token, setToken] = useState("");
  const [error, setError] = useState<string | undefined>(problem);
  const errorId = useId();

  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (mode === "dev") {
      const trimmed = name.trim();
      const invalid = nameProblem(trimmed, "user");
      if (invalid) return setError(invalid);
      onSignIn({ kind: "dev", user: trimmed, ...(admin ? { admin: true } : {}) });
      return;
    }
    const trimmed = token.trim();
    const user = userOfToken(trimmed);
    if (user === undefined) return setError("That does not look like a token with a user id (its sub claim).");
    onSignIn({ kind: "jwt", token: trimmed, user });
  };

  return (
    <div className="signin-page">
      <ThemeToggle theme={theme} onToggle={onToggleTheme} className="signin-theme" />
      <main className="signin-card">
        <h1 className="brand brand-large">Parley</h1>
        <p className="tagline">Real-time chat for your team.</p>
        <div className="tabs" role="radiogroup" aria-label="Sign-in method">
          <label className={mode === "dev" ? "tab tab-active" : "tab"}>
            <input type="radio" name="mode" checked={mode === "dev"} onChange={() => setMode("dev")} />
            Name
          </label>
          <label className={mode === "jwt" ? "tab tab-active" : "tab"}>
            <input type="radio" name="mode" checked={mode === "jwt"} onChange={() => setMode("jwt")} />
            Token
          </label>
        </div>
        <form onSubmit={submit} noValidate>
          {mode === "dev" ? (
            <>
              <label htmlFor="signin-name">Your name</label>
              <input
                id="signin-name"
                value={name}
                onChange={(event) => setName(event.target.value)}
                autoComplete="username"
                autoCapitalize="off"
                spellCheck={false}
                maxLength={64}
                aria-invalid={error !== undefined}
                aria-describedby={error ? errorId : undefined}
                // biome-ignore lint/a11y/noAutofocus: the only field of the page
                autoFocus
              />
              <label className="check-field">
                <input type="checkbox" checked={admin} onChange={(event) => setAdmin(event.target.checked)} />
                Admin: may delete anyone’s messages
              </label>
              <p className="hint">Development sign-in: the server trusts the name you type.</p>
            </>
          ) : (
            <>
              <label htmlFor="signin-token">Access token (JWT)</label>
              <textarea
                id="signin-token"
                value={token}
                onChange={(event) => setToken(event.target.value)}
                rows={4}
                spellCheck={false}
                aria-invalid={error !== undefined}
                aria-describedby={error ? errorId : undefined}
              />
              <p className="hint">Paste the token your organisation issued, or open a link with #token=…</p>
            </>
          )}
          {error ? (
            <p id={errorId} className="field-error" role="alert">
              {error}
            </p>
          ) : null}
          <button type="submit" className="primary-button">
            Sign in
          </button>
        </form>
      </main>
    </div>
  );
}
