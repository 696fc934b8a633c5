// Building the page without HTML strings: every value from the API reaches the page as text
// (textContent or an attribute set through the DOM), so a vendor named `<img onerror=…>` is shown, never run.

/**
 * el("a", {class: "link", href: "/x", on: {click: fn}}, "text", child, …)
 * `text` sets textContent; `on` adds listeners; `dataset` fills data-*; other keys are attributes
 * (booleans add or omit them). Children are nodes or strings (made text nodes); null and false are skipped.
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") node.textContent = String(value);
    else if (key === "on") for (const [event, handler] of Object.entries(value)) node.addEventListener(event, handler);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "class") node.className = Array.isArray(value) ? value.filter(Boolean).join(" ") : value;
    else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, String(value));
  }
  append(node, children);
  return node;
}

export function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function clear(node) {
  node.replaceChildren();
  return node;
}

/** A link inside the console: the router handles it without reloading the page. */
export function link(href, ...children) {
  return el("a", { href, dataset: { link: "" } }, ...children);
}

/** A button that copies `text` to the clipboard and says so. */
export function copyButton(text, label = "Copy") {
  const button = el("button", { type: "button", class: "copy", title: "Copy to the clipboard", text: label });
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(text);
      button.textContent = "Copied";
    } catch {
      button.textContent = "Select and copy";
    }
    setTimeout(() => { button.textContent = label; }, 1500);
  });
  return button;
}
