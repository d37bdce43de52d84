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
  const field = root.querySelector(".sl-link");
  field.value = data.link;
  // A view redrawn on its own (an st.fragment: a head or layer change) updates the address bar but not this box:
  // while the page's path is the one the link names, the box follows the address's query.
  const base = data.link.split("?")[0];
  let seen = window.location.search;
  const follow = () => {
    if (window.location.search === seen) return;
    seen = window.location.search;
    const path = new URL(base, window.location.href).pathname;
    if (window.location.pathname === path) field.value = `${base}${seen}`;
  };
  if (root.__follow) clearInterval(root.__follow);
  root.__follow = setInterval(follow, 250);
  return () => clearInterval(root.__follow);
}
