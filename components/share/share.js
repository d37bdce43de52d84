// The share link with a Copy button. The link is set as an input's value (text, never markup).
export default function shareLink(component) {
  const { data, parentElement } = component;
  if (!data || typeof data.link !== "string") return;
  let root = parentElement.querySelector(".sl-root");
  if (!root) {
    root = document.createElement("div");
    root.className = "sl-root";
    const field = document.createElement("input");
    field.className = "sl-link";
    field.readOnly = true;
    field.setAttribute("aria-label", "Share link");
    const button = document.createElement("button");
    button.className = "sl-copy";
    button.type = "button";
    button.textContent = "Copy link";
    button.addEventListener("click", async () => {
      field.select();
      try {
        await navigator.clipboard.writeText(field.value);
      } catch (error) {
        document.execCommand("copy");   // http pages without clipboard permission
      }
      button.textContent = "Copied ✓";
      setTimeout(() => { button.textContent = "Copy link"; }, 1500);
    });
    field.addEventListener("focus", () => field.select());
    root.appendChild(field);
    root.appendChild(button);
    parentElement.appendChild(root);
  }
  root.querySelector(".sl-link").value = data.link;
}
