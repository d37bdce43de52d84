// The app's views outside Streamlit: in a notebook cell or one offline HTML file.
// views/standalone.py wraps heatmap.js, grid.js and token_links.js (the very files the app loads) each in its own
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

  const FILTERS = [["all", "All"], ["aa", "A → A"], ["ab", "A → B"], ["ba", "B → A"], ["bb", "B → B"]];

  function ranges(part, pair, filter) {
    // the query and key positions a pair's filter keeps: [[q from, q to], [k from, k to]]
    const nq = part.tokens.length, nk = (part.keys || part.tokens).length;
    if (!pair || filter === "all") return [[0, nq], [0, nk]];
    const a = [0, pair.b], b = [pair.b, nq];
    return { aa: [a, a], ab: [a, b], ba: [b, a], bb: [b, b] }[filter];
  }

  function headData(part, levels, layer, head, names, range, partName) {
    // one head for heatmap.js: its stored levels as written (8-bit μ-law or 16-bit linear), cut to the filter's rows
    // and columns; heatmap.js turns them into colours and each cell's value and bound (common.js: levelBounds)
    const tokens = part.tokens, keys = part.keys || part.tokens, nk = keys.length, size = tokens.length * nk;
    const slot = part.weights.only ? 0 : layer * part.heads + head, at = slot * size;
    const [[q0, q1], [k0, k1]] = range;
    const Kind = part.weights.bits === 16 ? Uint16Array : Uint8Array;
    const all = part.weights.bits === 16 ? new Uint16Array(levels.buffer, levels.byteOffset, levels.byteLength / 2) : levels;
    const stored = new Kind((q1 - q0) * (k1 - k0));
    for (let q = q0; q < q1; q++) stored.set(all.subarray(at + q * nk + k0, at + q * nk + k1), (q - q0) * (k1 - k0));
    const cut = (list) => (list ? list.slice(q0, q1) : undefined), cutKeys = (list) => (list ? list.slice(k0, k1) : undefined);
    return {
      title: `${names.prefix}Layer ${names.layer(layer)} · Head ${names.head(head)}`, layer, head, part: partName,
      tokens: cut(tokens), keys: cutKeys(keys), raw: cut(part.raw), rawKeys: part.keys ? cutKeys(part.raw_keys) : cutKeys(part.raw),
      first: [q0, k0], scale: part.weights.scales[slot], stored, bits: part.weights.bits, code: part.weights.code || "linear",
      mu: part.weights.mu || 255,
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
    if (spec.zoom) {   // a long result: the zoomable view, answered from what the page holds
      for (const notice of spec.notices || []) frame.insertBefore(text("div", "sa-notice", notice), row);
      mountZoom(spec.zoom, place("sa-zoom"), mountView, host, (layer, head) => {
        if (share) share.textContent = shareLine(spec, layer, head);
      });
      host.dataset.ready = "true";
      return;
    }

    // what is shown: a part (encoder, decoder, cross of an encoder–decoder; else the one stack) and a pair's filter
    const partNames = spec.part_names || null;
    const partOf = (name) => (!partNames || name === Object.keys(partNames)[0] ? spec : spec.parts[name]);
    let partName = partNames ? Object.keys(partNames)[0] : "self", filter = "all";
    const controls = text("div", "sa-controls");
    const chooser = (label, options, onChange, className) => {
      const field = text("label", "sa-field", `${label} `);
      const select = text("select", className);
      for (const [value, name] of options) { const option = text("option", "", name); option.value = value; select.appendChild(option); }
      select.addEventListener("change", () => onChange(select.value));
      field.appendChild(select);
      controls.appendChild(field);
      return select;
    };
    if (partNames) chooser("Attention:", Object.entries(partNames), (value) => { partName = value; openHead(0, 0); }, "sa-part");
    if (spec.pair) chooser("Sentences:", FILTERS, (value) => { filter = value; openHead(layer, head); }, "sa-filter");
    if (controls.children.length) frame.insertBefore(controls, row);
    for (const notice of spec.notices || []) frame.insertBefore(text("div", "sa-notice", notice), row);

    const want = new Set(spec.views);
    const slots = {};
    if (want.has("grid")) slots.grid = place("sa-grid", "All layers × heads (click one to open it)");
    if (want.has("head")) slots.head = place("sa-head");
    if (want.has("links")) slots.links = section(frame, "sa-links", "");
    const levelsOf = {};   // part name -> its inflated levels
    let layer = spec.layer, head = spec.head;
    const linksTitle = slots.links ? slots.links.parentElement.insertBefore(text("h3", "sa-view-title"), slots.links) : null;
    const names = () => {
      const layerNames = partName === "self" || partName === "encoder" ? spec.layer_names : null;
      const headNames = partName === "self" || partName === "encoder" ? spec.head_names : null;
      return { prefix: partNames ? `${partNames[partName].split(" ")[0]} · ` : "",
               layer: (l) => (layerNames ? layerNames[l] : l), head: (h) => (headNames ? headNames[h] : h) };
    };

    function openHead(nextLayer, nextHead) {
      const part = partOf(partName);
      layer = Math.min(nextLayer, part.layers - 1); head = Math.min(nextHead, part.heads - 1);
      const range = ranges(part, spec.pair, filter);
      if (slots.grid) mountView(views.grid, slots.grid, { ...part.grid, selected: [layer, head] }, { open: (hit) => openHead(hit.layer, hit.head) });
      if (slots.head && levelsOf[partName]) mountView(views.heatmap, slots.head, headData(part, levelsOf[partName], layer, head, names(), range, partName));
      if (slots.links) {
        const data = part.links[String(layer)] || part.links[Object.keys(part.links)[0]];
        linksTitle.textContent = `Token links · ${names().prefix}layer ${names().layer(data.layer)}`;
        mountView(views.links, slots.links, { ...data, range: filter === "all" ? null : range, slot: `${partName}|${filter}` });
      }
      if (share) share.textContent = shareLine(spec, layer, head);
      host.dataset.layer = String(layer);
      host.dataset.head = String(head);
      host.dataset.part = partName;
      host.dataset.filter = filter;
    }

    if (slots.head) mountView(views.heatmap, slots.head, { pending: "Unpacking the weights…" });
    openHead(layer, head);   // the grid and the links first: they need no unpacking
    if (spec.weights) {
      for (const name of partNames ? Object.keys(partNames) : ["self"]) levelsOf[name] = await inflate(partOf(name).weights.data);
      if (slots.head) openHead(layer, head);
    }
    host.dataset.ready = "true";
  }

  function mountZoom(z, slot, mountView, host, opened) {
    // plays the server's part for views/zoom/zoom.js: another head or pooling is taken from z.heads; the queries and
    // keys of each head go with its first drawing, so windows and rows are computed in the page (no request)
    let layer = z.layer, head = z.head, pool = "max", tokensSent = false;
    const held = Object.keys(z.heads).map((key) => `L${key.replace("|", " H")}`).join(", ");
    const recordOf = (entry) => (entry.record ? { ...entry.record, k: z.keys[entry.record.kv] }
                                              : { layer, head, none: true });
    const answer = (error) => show(layer, head, error);
    const triggers = {
      open: (hit) => show(hit.layer, hit.head),
      pool: (value) => { if (value.pool === "max" || value.pool === "mean") { pool = value.pool; show(layer, head); } },
      missing: () => { tokensSent = false; show(layer, head); },
      record: () => show(layer, head),
      window: () => answer("This head's queries and keys are not in this page, so it shows its overview only; open it in the app to zoom."),
      row: () => answer("This head's rows need its queries and keys, which are not in this page; open it in the app."),
      level: () => answer("Sentence and block levels are in the app; this page zooms into tokens."),
    };
    function show(nextLayer, nextHead, error) {
      const entry = z.heads[`${nextLayer}|${nextHead}`];
      if (!entry) {
        const shown = z.heads[`${layer}|${head}`];
        mountView(views.zoom, slot, { ...z.base, layer, head, pool, overview: shown[pool],
          error: `Layer ${nextLayer} · head ${nextHead} is not in this page (it holds ${held}); open it in the app.` }, triggers);
        return;
      }
      layer = nextLayer; head = nextHead;
      const data = { ...z.base, layer, head, pool, overview: entry[pool], record: recordOf(entry) };
      if (!tokensSent) { data.tokens = z.tokens; tokensSent = true; }
      if (error) data.error = error;
      mountView(views.zoom, slot, data, triggers);
      host.dataset.layer = String(layer);
      host.dataset.head = String(head);
      opened(layer, head);
    }
    show(layer, head);
  }

  return { mount };
}
