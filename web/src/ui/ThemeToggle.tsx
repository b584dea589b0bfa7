/** The button that switches between the light and the dark theme (on the sign-in page and in the chat's header). */
export function ThemeToggle({
  theme,
  onToggle,
  className,
}: {
  theme: string;
  onToggle: () => void;
  className?: string;
}) {
  return (
    <button
      type="button"
      className={className === undefined ? "icon-button" : `icon-button ${className}`}
      onClick={onToggle}
      aria-label={theme === "dark" ? "Use light theme" : "Use dark theme"}
    >
      <span aria-hidden="true">{theme === "dark" ? "☀" : "☾"}</span>
    </button>
  );
}
