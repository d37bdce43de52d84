// The app's views outside Streamlit: in a notebook cell or one offline HTML file.
// components/standalone.py wraps heatmap.js, grid.js and token_links.js (the very files the app loads) each in its own
// function scope and calls standaloneViews() with them; nothing here draws a view itself. This file only plays the part
// Streamlit plays in the app: it hands each view its data and a parentElement, and answers the grid's "open" trigger
// by opening that head. Every view lives in its own shadow root, so several per page stay independent.
// Data arrive as JSON in a script element of type application/json beside the host element (escaped in Python:
// no "<" survives in it); tokens are then written by the views with textContent / fillText, never as markup.

function standaloneViews(views, styles) {
  const text = (tag, className, value) => {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (value !== undefined) node.textContent = value;
    return node;
  };

  function bytesOf(b64) {
    const raw = atob(b64);
    const bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes;
  }

  // All heads' weights: one deflate stream of levels, 8 or 16 bits per weight, each head scaled to its own maximum.
  // The browser inflates it natively (DecompressionStream); nothing is fetched.
  async function inflate(b64) {
    const stream = new Blob([bytesOf(b64)]).stream().pipeThrough(new DecompressionStream("deflate"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  }

  function headData(spec, levels, layer, head) {
    // a lone head (result.show("head", ...)) carries only its own weights
    const n = spec.tokens.length, size = n * n, slot = spec.weights.only ? 0 : layer * spec.heads + head, at = slot * size;
    let head16;
    if (spec.weights.bits === 16) {
      head16 = new Uint16Array(levels.buffer.slice(2 * at, 2 * (at + size)));   // little-endian, as written
    } else {
      head16 = new Uint16Array(size);
      for (let i = 0; i < size; i++) head16[i] = levels[at + i] * 257;   // 255 -> 65535: the same weight, exactly
    }
    const scale = spec.weights.scales[slot];
    return {
      title: `Layer ${layer} · Head ${head}`, layer, head, tokens: spec.tokens, scale, levels: head16,
      error: spec.weights.bits === 16 ? null : scale / 510,   // half a level of 255: the most a shown weight is off
    };
  }

  function section(shadow, className, title) {
    const box = text("section", `sa-view ${className}`);
    if (title) box.appendChild(text("h3", "sa-view-title", title));
    const slot = text("div", "sa-slot");
    box.appendChild(slot);
    shadow.appendChild(box);
    return slot;
  }

  function shareLine(spec, layer, head) {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(spec.share || {})) params.set(name, String(value));
    if (params.has("layer") || layer !== null) params.set("layer", String(layer));
    if (params.has("head") || head !== null) params.set("head", String(head));
    return `?${params.toString()}`;
  }

  async function mount(id, script) {
    // beside the calling script first: a notebook may run it before its output is attached to the document
    const near = (wanted) => (script && script.parentNode && script.parentNode.querySelector(`[id="${wanted}"]`))
      || document.getElementById(wanted);
    const host = near(id);
    const source = near(`${id}-data`);
    if (!host || !source || host.shadowRoot) return;
    const spec = JSON.parse(source.textContent);
    const shadow = host.attachShadow({ mode: "open" });
    const style = document.createElement("style");
    style.textContent = styles;
    shadow.appendChild(style);
    const frame = text("div", "sa-root");
    shadow.appendChild(frame);
    if (spec.caption) frame.appendChild(text("div", "sa-caption", spec.caption));
    const row = text("div", "sa-row");
    frame.appendChild(row);
    const place = (className, title) => section(row, className, title);
    let share = null;
    if (spec.share) {
      const line = text("div", "sa-share");
      line.appendChild(text("span", "sa-share-label", "Share-link parameters (add to the app's address): "));
      share = text("code", "sa-share-code", shareLine(spec, spec.layer, spec.head));
      line.appendChild(share);
      frame.appendChild(line);
    }

    const mountView = (view, parentElement, data, triggers) => view({
      name: id, key: id, data, parentElement,
      setStateValue: () => {},                                   // the views' state lives in the page only
      setTriggerValue: (name, value) => triggers && triggers[name] && triggers[name](value),
    });

    const want = new Set(spec.views);
    const slots = {};
    if (want.has("grid")) slots.grid = place("sa-grid", "All layers × heads (click one to open it)");
    if (want.has("head")) slots.head = place("sa-head");
    if (want.has("links")) slots.links = section(frame, "sa-links", "");
    let levels = null;
    let layer = spec.layer, head = spec.head;
    const linksTitle = slots.links ? slots.links.parentElement.insertBefore(text("h3", "sa-view-title"), slots.links) : null;

    function openHead(nextLayer, nextHead) {
      layer = nextLayer; head = nextHead;
      if (slots.grid) mountView(views.grid, slots.grid, { ...spec.grid, selected: [layer, head] }, { open: (hit) => openHead(hit.layer, hit.head) });
      if (slots.head && levels) mountView(views.heatmap, slots.head, headData(spec, levels, layer, head));
      if (slots.links) {
        const data = spec.links[String(layer)] || spec.links[Object.keys(spec.links)[0]];
        linksTitle.textContent = `Token links · layer ${data.layer}`;
        mountView(views.links, slots.links, data);
      }
      if (share) share.textContent = shareLine(spec, layer, head);
      host.dataset.layer = String(layer);
      host.dataset.head = String(head);
    }

    if (slots.head) mountView(views.heatmap, slots.head, { pending: "Unpacking the weights…" });
    openHead(layer, head);   // the grid and the links first: they need no unpacking
    if (spec.weights) {
      levels = await inflate(spec.weights.data);
      if (slots.head) mountView(views.heatmap, slots.head, headData(spec, levels, layer, head));
    }
    host.dataset.ready = "true";
  }

  return { mount };
}
