// Shared by the components (prepended to their scripts in Python: views/__init__.py DOM_JS).
// Every piece of user text reaches the page through textContent: never as markup.
function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

