// Input fields generated from the model's input JSON Schema (GET /v1/models/{id}):
// a field added to the model's schema appears here without a change to the page.

// Fields with a dedicated control elsewhere on the page.
export const DEDICATED_FIELDS = new Set(["prompt", "negative_prompt", "image_urls"]);

function resolve(schema, root) {
  if (schema && schema.$ref) {
    const name = schema.$ref.split("/").pop();
    const target = (root.$defs || root.definitions || {})[name] || {};
    const { $ref, ...rest } = schema;
    return { ...target, ...rest };
  }
  return schema || {};
}

function describeKind(prop, root) {
  const branches = (prop.anyOf || prop.oneOf || [prop]).map((b) => resolve(b, root));
  const nullable = branches.some((b) => b.type === "null");
  const real = branches.filter((b) => b.type !== "null");
  const enumBranch = real.find((b) => Array.isArray(b.enum));
  if (real.length === 1 && real[0].type === "boolean") return { kind: "boolean", nullable };
  if (real.length === 1 && enumBranch) return { kind: "select", options: enumBranch.enum, nullable };
  if (real.length === 1 && (real[0].type === "integer" || real[0].type === "number")) {
    return { kind: "number", integer: real[0].type === "integer", limits: real[0], nullable };
  }
  if (real.length === 1 && real[0].type === "string") return { kind: "text", limits: real[0], nullable };
  // A preset or a free form (e.g. image_size: preset | "WxH" | {width, height}).
  if (enumBranch) return { kind: "suggest", options: enumBranch.enum, nullable, others: real };
  return { kind: "json", nullable };
}

function limitsText(kind) {
  const l = kind.limits || {};
  const min = l.minimum ?? l.exclusiveMinimum;
  const max = l.maximum ?? l.exclusiveMaximum;
  if (min !== undefined && max !== undefined) return `${min}–${max}`;
  if (min !== undefined) return `≥ ${min}`;
  if (max !== undefined) return `≤ ${max}`;
  if (l.maxLength !== undefined) return `≤ ${l.maxLength} chars`;
  return "";
}

function defaultText(prop) {
  if (!("default" in prop)) return "";
  if (prop.default === null) return "default: automatic";
  return `default: ${JSON.stringify(prop.default)}`;
}

function element(tag, attrs = {}, text) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    el.setAttribute(k, v === true ? "" : String(v));
  }
  if (text !== undefined) el.textContent = text;
  return el;
}

function humanize(name) {
  const words = name.replace(/_/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

export class SchemaForm {
  constructor(container) {
    this.container = container;
    this.fields = new Map();
  }

  render(schema) {
    this.container.replaceChildren();
    this.fields.clear();
    const props = (schema && schema.properties) || {};
    for (const [name, raw] of Object.entries(props)) {
      if (DEDICATED_FIELDS.has(name)) continue;
      const prop = resolve(raw, schema);
      // A $ref'd type's title is its class name ("OutputFormat"): the field's own or its name reads better.
      prop.title = raw.title || humanize(name);
      const kind = describeKind(prop, schema);
      this.container.append(this.renderField(name, prop, kind));
    }
  }

  renderField(name, prop, kind) {
    const id = `field-${name}`;
    const title = prop.title;
    const wrap = element("div", { class: `field field-${kind.kind}`, "data-field": name });
    const hintId = `hint-${name}`;
    const errId = `err-${name}`;
    const hint = [prop.description, defaultText(prop), limitsText(kind)].filter(Boolean).join(" · ");
    let input;
    if (kind.kind === "boolean") {
      input = element("input", { id, type: "checkbox", name });
      input.checked = prop.default === true;
      const label = element("label", { for: id, class: "checkbox-label" });
      label.append(input, document.createTextNode(` ${title}`));
      wrap.append(label);
    } else {
      wrap.append(element("label", { for: id }, title));
      if (kind.kind === "select") {
        input = element("select", { id, name });
        if (kind.nullable || !("default" in prop)) input.append(element("option", { value: "" }, "(automatic)"));
        for (const option of kind.options) input.append(element("option", { value: option }, String(option)));
        if (prop.default !== undefined && prop.default !== null) input.value = String(prop.default);
      } else if (kind.kind === "number") {
        const l = kind.limits;
        input = element("input", {
          id,
          name,
          type: "number",
          inputmode: kind.integer ? "numeric" : "decimal",
          min: l.minimum,
          max: l.maximum,
          step: kind.integer ? 1 : "any",
          placeholder: prop.default === null || prop.default === undefined ? "automatic" : undefined,
        });
        if (prop.default !== undefined && prop.default !== null) input.value = String(prop.default);
      } else if (kind.kind === "suggest") {
        const listId = `list-${name}`;
        input = element("input", { id, name, type: "text", list: listId, placeholder: "automatic", autocomplete: "off" });
        const list = element("datalist", { id: listId });
        for (const option of kind.options) list.append(element("option", { value: option }));
        wrap.append(list);
        if (typeof prop.default === "string") input.value = prop.default;
      } else if (kind.kind === "text") {
        input = element("input", { id, name, type: "text", maxlength: kind.limits.maxLength });
        if (typeof prop.default === "string") input.value = prop.default;
      } else {
        input = element("textarea", { id, name, rows: 2, placeholder: "JSON", spellcheck: "false" });
        if (prop.default !== undefined && prop.default !== null) input.value = JSON.stringify(prop.default);
      }
      wrap.append(input);
    }
    input.setAttribute("aria-describedby", `${hintId} ${errId}`);
    wrap.append(element("p", { id: hintId, class: "hint" }, hint));
    wrap.append(element("p", { id: errId, class: "field-error", "data-error-for": name, hidden: true }));
    this.fields.set(name, { input, kind, prop });
    return wrap;
  }

  // The input values; `problems` collects values that cannot be read (bad JSON).
  values(problems) {
    const out = {};
    for (const [name, { input, kind }] of this.fields) {
      if (kind.kind === "boolean") {
        out[name] = input.checked;
        continue;
      }
      const raw = input.value.trim();
      if (raw === "") continue; // Unset: the model's default applies.
      if (kind.kind === "number") {
        out[name] = Number(raw);
      } else if (kind.kind === "json") {
        try {
          out[name] = JSON.parse(raw);
        } catch {
          problems.push({ loc: [name], msg: "Not valid JSON." });
        }
      } else if (kind.kind === "suggest" && raw.startsWith("{")) {
        try {
          out[name] = JSON.parse(raw);
        } catch {
          problems.push({ loc: [name], msg: "Not valid JSON." });
        }
      } else {
        out[name] = raw;
      }
    }
    return out;
  }

  // Puts a previous run's input back into the fields (unknown names are ignored).
  load(input) {
    for (const [name, { input: el, kind, prop }] of this.fields) {
      const value = name in input ? input[name] : prop.default;
      if (kind.kind === "boolean") el.checked = Boolean(value);
      else if (value === null || value === undefined) el.value = "";
      else if (typeof value === "object") el.value = JSON.stringify(value);
      else el.value = String(value);
    }
  }
}
