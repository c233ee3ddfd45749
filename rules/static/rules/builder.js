/*
 * Rule builder for the Django admin: build a rule's condition and action by picking from lists.
 *
 * Each builder wraps a textarea that holds the JSON the server checks and saves. With JavaScript off the
 * textarea stays visible and editable. With it on, the textarea is hidden (a link shows it again) and every
 * change in the builder writes the JSON back into it. The vocabulary (facts, operators, choices, action
 * parameters, texts) is read from a json_script element written by rules/widgets.py: nothing is hard-coded.
 *
 * Parts of an existing condition the builder cannot show (groups nested deeper than one level, unknown
 * facts) are kept exactly as they were and shown as read-only text; rows nobody touched are written back
 * unchanged.
 */
(function () {
  "use strict";

  // --- small helpers -----------------------------------------------------------------------------------

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      var value = attrs[key];
      if (value === undefined || value === null || value === false) return;
      if (key === "text") node.textContent = value;
      else if (key === "className") node.className = value;
      else node.setAttribute(key, value === true ? "" : value);
    });
    (children || []).forEach(function (child) {
      if (child) node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function option(value, label, selected) {
    var node = el("option", { value: value, text: label });
    if (selected) node.selected = true;
    return node;
  }

  function bilingual(item) {
    return item.zh === item.en ? item.zh : item.zh + " " + item.en;
  }

  function button(text, className, title) {
    return el("button", { type: "button", className: "rb-btn " + (className || ""), text: text, title: title });
  }

  function isPlainObject(value) {
    return value !== null && typeof value === "object" && !Array.isArray(value);
  }

  function isScalar(value) {
    return typeof value === "string" || typeof value === "number";
  }

  function groupKey(node) {
    if (!isPlainObject(node)) return null;
    var keys = Object.keys(node);
    return keys.length === 1 && (keys[0] === "all" || keys[0] === "any") && Array.isArray(node[keys[0]])
      ? keys[0]
      : null;
  }

  function readVocabulary(root) {
    return JSON.parse(document.getElementById(root.getAttribute("data-vocabulary")).textContent);
  }

  function parseJson(text) {
    try {
      return { ok: true, value: text.trim() === "" ? null : JSON.parse(text) };
    } catch (e) {
      return { ok: false };
    }
  }

  /* Hide the textarea behind a "show JSON" link; call onEdit when someone edits the JSON by hand. */
  function wireTextarea(root, textarea, text, onEdit) {
    var note = el("p", { className: "rb-bad-json", text: text.bad_json, hidden: true });
    var toggle = button(text.show_json, "rb-link rb-json-toggle");
    toggle.addEventListener("click", function () {
      var show = textarea.classList.toggle("rb-json-hidden") === false;
      toggle.textContent = show ? text.hide_json : text.show_json;
    });
    textarea.classList.add("rb-json-hidden");
    root.appendChild(el("div", { className: "rb-json-bar" }, [toggle, note]));
    textarea.addEventListener("input", function () {
      var parsed = parseJson(textarea.value);
      note.hidden = parsed.ok;
      if (parsed.ok) onEdit(parsed.value);
    });
    return note;
  }

  // --- condition builder -------------------------------------------------------------------------------

  function ConditionBuilder(root) {
    this.root = root;
    this.vocab = readVocabulary(root);
    this.text = this.vocab.text;
    this.textarea = root.querySelector("textarea");
    this.ui = root.querySelector(".rb-ui");
    this.facts = {};
    this.operators = {};
    var self = this;
    this.vocab.facts.forEach(function (fact) {
      self.facts[fact.name] = fact;
    });
    this.vocab.operators.forEach(function (op) {
      self.operators[op.name] = op;
    });
    this.datalists = {};
    Object.keys(this.vocab.suggestions || {}).forEach(function (factName) {
      var id = root.getAttribute("data-vocabulary") + "_" + factName;
      var list = el(
        "datalist",
        { id: id },
        self.vocab.suggestions[factName].map(function (v) {
          return option(v, v);
        })
      );
      root.appendChild(list);
      self.datalists[factName] = id;
    });
  }

  ConditionBuilder.prototype.start = function () {
    var parsed = parseJson(this.textarea.value);
    var self = this;
    this.badJson = wireTextarea(this.root, this.textarea, this.text, function (value) {
      if (self.load(value)) {
        self.ui.hidden = false;
        self.preview();
      }
    });
    if (!parsed.ok || !this.load(parsed.value)) {
      // Not something the builder can show: leave the JSON visible for editing by hand.
      this.textarea.classList.remove("rb-json-hidden");
      this.badJson.hidden = false;
      return;
    }
    this.ui.hidden = false;
    this.markErrors();
    this.preview();
  };

  /* Show a condition (null or {} starts an empty one). False when it is not a group at all. */
  ConditionBuilder.prototype.load = function (value) {
    if (value === null || (isPlainObject(value) && Object.keys(value).length === 0)) value = { all: [{}] };
    if (!groupKey(value)) return false;
    this.ui.textContent = "";
    this.rootGroup = this.group(value, 0, groupKey(value));
    this.previewLine = el("p", { className: "rb-preview" });
    this.ui.appendChild(this.rootGroup.el);
    this.ui.appendChild(this.previewLine);
    return true;
  };

  ConditionBuilder.prototype.group = function (node, depth, path) {
    var self = this;
    var key = groupKey(node);
    var group = { kind: "group", key: key, items: [], depth: depth };
    var select = el("select", { className: "rb-group-op", "aria-label": this.text.match }, [
      option("all", this.text.all, key === "all"),
      option("any", this.text.any, key === "any"),
    ]);
    select.addEventListener("change", function () {
      group.key = select.value;
      self.write();
    });
    var list = el("div", { className: "rb-items" });
    var header = el("div", { className: "rb-group-head" }, [
      el("span", { text: this.text.match }),
      select,
      el("span", { text: this.text.conditions }),
    ]);
    var footer = el("div", { className: "rb-group-foot" });
    group.el = el("div", { className: depth === 0 ? "rb-group rb-root" : "rb-group rb-nested", "data-path": path }, [
      header,
      list,
      footer,
    ]);
    group.list = list;

    var addRow = button(this.text.add_condition, "rb-add-row");
    addRow.addEventListener("click", function () {
      self.append(group, self.row({}, group, null));
      self.write();
    });
    footer.appendChild(addRow);
    if (depth === 0) {
      var addGroup = button(this.text.add_group, "rb-add-group");
      addGroup.addEventListener("click", function () {
        var other = group.key === "all" ? "any" : "all";
        var nested = {};
        nested[other] = [{}];
        self.append(group, self.group(nested, 1, null));
        self.write();
      });
      footer.appendChild(addGroup);
    } else {
      var remove = button("✕", "rb-remove", this.text.remove_group);
      remove.setAttribute("aria-label", this.text.remove_group);
      remove.addEventListener("click", function () {
        self.discard(group);
      });
      header.appendChild(remove);
    }

    node[key].forEach(function (item, i) {
      var itemPath = path === null ? null : path + "." + i;
      if (groupKey(item)) {
        var groupPath = itemPath === null ? null : itemPath + "." + groupKey(item);
        self.append(group, depth === 0 ? self.group(item, 1, groupPath) : self.kept(item, itemPath));
      } else {
        self.append(group, self.representable(item) ? self.row(item, group, itemPath) : self.kept(item, itemPath));
      }
    });
    return group;
  };

  ConditionBuilder.prototype.append = function (group, item) {
    item.parent = group;
    group.items.push(item);
    group.list.appendChild(item.el);
  };

  ConditionBuilder.prototype.discard = function (item) {
    var items = item.parent.items;
    items.splice(items.indexOf(item), 1);
    item.el.remove();
    this.write();
  };

  /* Can this comparison be shown as a row of selects without losing anything? */
  ConditionBuilder.prototype.representable = function (item) {
    if (!isPlainObject(item)) return false;
    if (Object.keys(item).length === 0) return true; // a new, empty row
    var extra = Object.keys(item).filter(function (k) {
      return k !== "fact" && k !== "op" && k !== "value";
    });
    var fact = this.facts[item.fact];
    var op = this.operators[item.op];
    if (extra.length || !fact || !op || op.types.indexOf(fact.type) < 0) return false;
    var value = item.value;
    if (op.value === "none") return !("value" in item);
    if (op.value === "one") return isScalar(value);
    if (!Array.isArray(value) || !value.every(isScalar)) return false;
    return op.value === "many" || value.length === 2;
  };

  /* A part of the condition shown as text and written back exactly as it was. */
  ConditionBuilder.prototype.kept = function (node, path) {
    var self = this;
    var item = { kind: "kept", original: node };
    var remove = button("✕", "rb-remove", this.text.remove);
    remove.setAttribute("aria-label", this.text.remove);
    remove.addEventListener("click", function () {
      self.discard(item);
    });
    item.el = el("div", { className: "rb-row rb-kept", "data-path": path }, [
      el("code", { text: this.describe(node, this.vocab.lang) }),
      el("small", { text: this.text.kept }),
      remove,
    ]);
    return item;
  };

  ConditionBuilder.prototype.row = function (node, group, path) {
    var self = this;
    var row = { kind: "row", original: node, dirty: false };
    var factSelect = el("select", { className: "rb-fact", "aria-label": "fact" }, [option("", this.text.choose_fact)]);
    this.vocab.facts.forEach(function (fact) {
      factSelect.appendChild(option(fact.name, bilingual(fact), fact.name === node.fact));
    });
    var opSelect = el("select", { className: "rb-op", "aria-label": "operator" });
    var valueBox = el("span", { className: "rb-value" });
    var remove = button("✕", "rb-remove", this.text.remove);
    remove.setAttribute("aria-label", this.text.remove);
    row.el = el("div", { className: "rb-row", "data-path": path }, [factSelect, opSelect, valueBox, remove]);
    row.factSelect = factSelect;
    row.opSelect = opSelect;
    row.valueBox = valueBox;

    var values = "value" in node ? [].concat(node.value).map(String) : [];
    this.fillOperators(row, node.op);
    this.fillValue(row, values);

    factSelect.addEventListener("change", function () {
      var carried = self.currentValues(row);
      self.fillOperators(row, opSelect.value);
      self.fillValue(row, carried);
      self.touched(row);
    });
    opSelect.addEventListener("change", function () {
      self.fillValue(row, self.currentValues(row));
      self.touched(row);
    });
    valueBox.addEventListener("input", function () {
      self.touched(row);
    });
    valueBox.addEventListener("change", function () {
      self.touched(row);
    });
    remove.addEventListener("click", function () {
      self.discard(row);
    });
    return row;
  };

  ConditionBuilder.prototype.touched = function (row) {
    row.dirty = true;
    row.el.classList.remove("rb-error");
    var message = row.el.querySelector(".rb-error-text");
    if (message) message.remove();
    this.write();
  };

  /* Operators that apply to the chosen fact's type; keep the current one if it still applies. */
  ConditionBuilder.prototype.fillOperators = function (row, wanted) {
    var fact = this.facts[row.factSelect.value];
    row.opSelect.textContent = "";
    row.opSelect.disabled = !fact;
    if (!fact) return;
    var fitting = this.vocab.operators.filter(function (op) {
      return op.types.indexOf(fact.type) >= 0;
    });
    var keep = fitting.some(function (op) {
      return op.name === wanted;
    });
    fitting.forEach(function (op, i) {
      row.opSelect.appendChild(option(op.name, bilingual(op), keep ? op.name === wanted : i === 0));
    });
  };

  ConditionBuilder.prototype.currentValues = function (row) {
    var box = row.valueBox;
    var checked = box.querySelectorAll("input[type=checkbox]");
    if (checked.length) {
      return Array.prototype.filter
        .call(checked, function (c) {
          return c.checked;
        })
        .map(function (c) {
          return c.value;
        });
    }
    var values = [];
    box.querySelectorAll("input, select").forEach(function (input) {
      if (input.classList.contains("rb-many")) values = values.concat(splitMany(input.value));
      else values.push(input.value);
    });
    return values;
  };

  function splitMany(text) {
    return text
      .split(/[,，、\n]/)
      .map(function (part) {
        return part.trim();
      })
      .filter(Boolean);
  }

  /* The value inputs that fit the operator: none, one, two (between) or many (comma-separated / ticks). */
  ConditionBuilder.prototype.fillValue = function (row, values) {
    var fact = this.facts[row.factSelect.value];
    var op = this.operators[row.opSelect.value];
    var box = row.valueBox;
    var text = this.text;
    box.textContent = "";
    if (!fact || !op || op.value === "none") return;
    var self = this;
    var placeholder = text.placeholder[fact.type] || "";

    function textInput(value, extraClass, hint) {
      return el("input", {
        type: "text",
        className: "rb-input " + (extraClass || ""),
        value: value || "",
        placeholder: hint || placeholder,
        list: self.datalists[fact.name],
        inputmode: fact.type in self.vocab.numeric_types ? "decimal" : null,
        "aria-label": "value",
      });
    }

    if (fact.choices.length && op.value === "one") {
      var select = el("select", { className: "rb-choice", "aria-label": "value" }, [option("", text.choose)]);
      var known = fact.choices.map(function (c) {
        return c.value;
      });
      if (values[0] && known.indexOf(values[0]) < 0) select.appendChild(option(values[0], values[0], true));
      fact.choices.forEach(function (c) {
        select.appendChild(option(c.value, bilingual(c), c.value === values[0]));
      });
      box.appendChild(select);
    } else if (fact.choices.length && op.value === "many") {
      var seen = fact.choices.map(function (c) {
        return c.value;
      });
      var extra = values.filter(function (v) {
        return seen.indexOf(v) < 0;
      });
      fact.choices
        .concat(
          extra.map(function (v) {
            return { value: v, zh: v, en: v };
          })
        )
        .forEach(function (c) {
          var box_ = el("input", { type: "checkbox", value: c.value });
          box_.checked = values.indexOf(c.value) >= 0;
          box.appendChild(el("label", { className: "rb-check" }, [box_, " " + bilingual(c)]));
        });
    } else if (op.value === "pair") {
      box.appendChild(el("span", { className: "rb-quiet", text: text.low }));
      box.appendChild(textInput(values[0], "rb-short"));
      box.appendChild(el("span", { className: "rb-quiet", text: text.high }));
      box.appendChild(textInput(values[1], "rb-short"));
    } else if (op.value === "many") {
      box.appendChild(textInput(values.join(", "), "rb-many rb-wide", text.many_hint));
    } else {
      box.appendChild(textInput(values[0]));
    }
  };

  /* A typed value as the JSON holds it: whole numbers as numbers; amounts stay exact decimal text. */
  ConditionBuilder.prototype.coerce = function (fact, raw) {
    var value = String(raw).trim();
    if (this.vocab.numeric_types[fact.type] === "int" && /^-?\d+$/.test(value)) return parseInt(value, 10);
    return value; // anything else goes as typed: the server names the field if it is not a valid value
  };

  ConditionBuilder.prototype.rowJson = function (row) {
    if (!row.dirty) return Object.keys(row.original).length ? row.original : null;
    var fact = this.facts[row.factSelect.value];
    if (!fact) return null; // a row with no fact chosen yet is left out
    var op = this.operators[row.opSelect.value];
    var item = { fact: fact.name, op: op.name };
    if (op.value === "none") return item;
    var self = this;
    var values = this.currentValues(row).map(function (v) {
      return self.coerce(fact, v);
    });
    if (op.value === "one") item.value = values.length ? values[0] : "";
    else item.value = values;
    return item;
  };

  ConditionBuilder.prototype.json = function (group) {
    var self = this;
    var out = {};
    out[group.key] = group.items
      .map(function (item) {
        if (item.kind === "group") return self.json(item);
        if (item.kind === "kept") return item.original;
        return self.rowJson(item);
      })
      .filter(function (item) {
        return item !== null;
      });
    return out;
  };

  ConditionBuilder.prototype.write = function () {
    this.textarea.value = JSON.stringify(this.json(this.rootGroup));
    this.badJson.hidden = true;
    this.preview();
  };

  ConditionBuilder.prototype.preview = function () {
    var json = this.json(this.rootGroup);
    var key = groupKey(json);
    this.previewLine.textContent = json[key].length
      ? this.text.preview + "：" + this.describe(json, this.vocab.lang)
      : this.text.preview + "：" + this.text.empty;
  };

  /* The condition in words, as the server's sentence reads (rules.engine.render). */
  ConditionBuilder.prototype.describe = function (node, lang) {
    var self = this;
    var key = groupKey(node);
    if (key) {
      var joiner = key === "all" ? (lang === "zh" ? " 且 " : " and ") : lang === "zh" ? " 或 " : " or ";
      return node[key]
        .map(function (item) {
          return groupKey(item) ? "(" + self.describe(item, lang) + ")" : self.describe(item, lang);
        })
        .join(joiner);
    }
    var fact = isPlainObject(node) && this.facts[node.fact];
    var op = isPlainObject(node) && this.operators[node.op];
    if (!fact || !op) return JSON.stringify(node);
    function word(v) {
      var choice = fact.choices.filter(function (c) {
        return c.value === v;
      })[0];
      return choice ? choice[lang] : String(v);
    }
    var label = fact[lang] + " " + op[lang];
    if (op.value === "none") return label;
    if (op.value === "pair" && Array.isArray(node.value)) return label + " " + node.value.map(word).join("–");
    var values = [].concat(node.value);
    return label + " " + values.map(word).join(lang === "zh" ? "、" : ", ");
  };

  /* After a refused save, point at the rows the server named (error text starts with a path like all.2.value). */
  ConditionBuilder.prototype.markErrors = function () {
    var formRow = this.root.closest(".form-row");
    if (!formRow) return;
    var ui = this.ui;
    var prefix = this.text.row_error + "：";
    formRow.querySelectorAll("ul.errorlist li").forEach(function (li) {
      var match = /^((?:all|any)(?:\.[a-z_]+|\.\d+)*)\s*:\s*(.*)$/.exec(li.textContent.trim());
      if (!match) return;
      var parts = match[1].split(".");
      for (var n = parts.length; n > 0; n--) {
        var target = ui.querySelector('[data-path="' + parts.slice(0, n).join(".") + '"]');
        if (target && target.classList.contains("rb-row")) {
          target.classList.add("rb-error");
          target.appendChild(el("span", { className: "rb-error-text", text: prefix + match[2] }));
          return;
        }
      }
    });
  };

  // --- action builder ----------------------------------------------------------------------------------

  function ActionBuilder(root) {
    this.root = root;
    this.vocab = readVocabulary(root);
    this.text = this.vocab.text;
    this.textarea = root.querySelector("textarea");
    this.ui = root.querySelector(".rb-ui");
    this.kindSelect = root.closest("form").elements[this.vocab.kind_field];
    this.values = {};
  }

  ActionBuilder.prototype.start = function () {
    var self = this;
    var parsed = parseJson(this.textarea.value);
    this.badJson = wireTextarea(this.root, this.textarea, this.text, function (value) {
      if (isPlainObject(value)) {
        self.values = Object.assign({}, value);
        self.render();
      }
    });
    if (!this.kindSelect || !parsed.ok || !(parsed.value === null || isPlainObject(parsed.value))) {
      this.textarea.classList.remove("rb-json-hidden");
      this.badJson.hidden = !!parsed.ok;
      return;
    }
    this.values = Object.assign({}, parsed.value || {});
    this.kindSelect.addEventListener("change", function () {
      self.render();
      self.write();
    });
    this.ui.hidden = false;
    this.render();
  };

  ActionBuilder.prototype.render = function () {
    var self = this;
    var params = this.vocab.kinds[this.kindSelect.value];
    this.ui.textContent = "";
    this.inputs = {};
    if (!params) {
      this.ui.appendChild(el("p", { className: "rb-quiet", text: this.text.choose_kind }));
      return;
    }
    var fields = el("div", { className: "rb-params" });
    params.forEach(function (param) {
      var id = self.textarea.id + "_" + param.name;
      var current = param.name in self.values ? self.values[param.name] : param.default;
      var input = self.input(param, id, current);
      self.inputs[param.name] = { param: param, input: input };
      input.addEventListener(input.tagName === "SELECT" || input.type === "checkbox" ? "change" : "input", function () {
        self.values[param.name] = self.read(param, input);
        self.write();
      });
      var label = el("label", { for: id, text: bilingual(param) });
      fields.appendChild(
        el("div", { className: "rb-param rb-param-" + param.input, "data-param": param.name }, [label, input])
      );
    });
    this.ui.appendChild(fields);
  };

  ActionBuilder.prototype.input = function (param, id, current) {
    var text = this.text;
    var value = current === undefined || current === null ? "" : String(current);
    if (param.input === "bool") {
      var check = el("input", { type: "checkbox", id: id });
      check.checked = current === undefined ? false : !!current;
      return check;
    }
    if (param.input === "int") {
      return el("input", {
        type: "number",
        id: id,
        className: "vIntegerField",
        min: param.min,
        max: param.max,
        step: 1,
        value: value,
      });
    }
    if (param.input === "choice") {
      var picked = value || String(param.default || "");
      return el(
        "select",
        { id: id },
        param.choices.map(function (choice) {
          return option(choice.value, bilingual(choice), choice.value === picked);
        })
      );
    }
    if (["level", "group", "warehouse", "user", "channel"].indexOf(param.input) >= 0) {
      var options = [option("", text.choose)];
      var known = [];
      if (param.input === "level") {
        this.vocab.levels.forEach(function (level) {
          known.push(String(level.value));
          options.push(option(String(level.value), bilingual(level), String(level.value) === value));
        });
      } else {
        this.vocab.known[param.input].forEach(function (code) {
          known.push(code);
          options.push(option(code, code, code === value));
        });
      }
      if (value && known.indexOf(value) < 0) options.push(option(value, value, true)); // shown, the server says why
      return el("select", { id: id }, options);
    }
    var listId = param.input === "sku" ? this.datalist("sku") : null;
    return el("input", {
      type: "text",
      id: id,
      className: "vTextField",
      value: value,
      maxlength: param.max_length,
      list: listId,
      autocomplete: "off",
    });
  };

  ActionBuilder.prototype.datalist = function (what) {
    var id = this.root.getAttribute("data-vocabulary") + "_" + what;
    if (!document.getElementById(id)) {
      this.root.appendChild(
        el(
          "datalist",
          { id: id },
          this.vocab.known[what].map(function (code) {
            return option(code, code);
          })
        )
      );
    }
    return id;
  };

  /* An input's value as the JSON holds it: whole numbers as numbers, ticks as true/false. */
  ActionBuilder.prototype.read = function (param, input) {
    if (param.input === "bool") return input.checked;
    var value = input.value.trim();
    if (param.input === "warehouse" && value === "") return undefined; // ranking rules name no warehouse
    if ((param.input === "user" || param.input === "channel") && value === "") return undefined; // optional
    if (param.input === "int" || param.input === "level") {
      if (value === "") return undefined;
      return /^-?\d+$/.test(value) ? parseInt(value, 10) : value;
    }
    return value;
  };

  ActionBuilder.prototype.write = function () {
    var self = this;
    var params = {};
    Object.keys(this.inputs).forEach(function (name) {
      var value = self.read(self.inputs[name].param, self.inputs[name].input);
      if (value !== undefined) params[name] = value;
    });
    this.textarea.value = JSON.stringify(params);
    this.badJson.hidden = true;
  };

  // --- start -------------------------------------------------------------------------------------------

  function start() {
    document.querySelectorAll("[data-rule-builder]").forEach(function (root) {
      if (root.getAttribute("data-started")) return;
      root.setAttribute("data-started", "1");
      var kind = root.getAttribute("data-rule-builder");
      var builder = kind === "condition" ? new ConditionBuilder(root) : new ActionBuilder(root);
      builder.start();
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
