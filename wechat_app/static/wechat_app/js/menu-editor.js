/* The menu editor: a tree of buttons (add, rename, reorder, move, delete), the fields of the
 * chosen type only, byte counters, rule linking, and a live preview of the menu as WeChat draws it
 * at the bottom of the chat screen. The tree is kept in the hidden "buttons" field as WeChat's JSON;
 * the server validates it again (the same validator as the CLI and the API). */
(function () {
  "use strict";
  var LIMITS = { top: 16, sub: 60, key: 128, url: 1024 };
  var MAX_TOP = 3, MAX_SUB = 5;
  // The fields each type carries (WeChat's menu JSON), in the order the form shows them.
  var TYPE_FIELDS = {
    click: ["key"], view: ["url"], miniprogram: ["url", "appid", "pagepath"],
    scancode_push: ["key"], scancode_waitmsg: ["key"], pic_sysphoto: ["key"], pic_photo_or_album: ["key"],
    pic_weixin: ["key"], location_select: ["key"], media_id: ["media_id"], article_id: ["article_id"],
    article_view_limited: ["article_id"]
  };
  var TYPE_LABELS = {
    click: "Click: send an event to your rules", view: "Open a web page", miniprogram: "Open a mini program",
    scancode_push: "Scan a QR code (event)", scancode_waitmsg: "Scan a QR code and wait for a reply",
    pic_sysphoto: "Take a photo", pic_photo_or_album: "Photo or album", pic_weixin: "WeChat album",
    location_select: "Send a location", media_id: "Send a permanent media item", article_id: "Publish an article",
    article_view_limited: "Open an article (no pushed event)"
  };
  // The event each type pushes with the button's key (VIEW carries the URL instead).
  var EVENTS = { click: "CLICK", scancode_push: "scancode_push", scancode_waitmsg: "scancode_waitmsg",
    pic_sysphoto: "pic_sysphoto", pic_photo_or_album: "pic_photo_or_album", pic_weixin: "pic_weixin",
    location_select: "location_select" };
  var FIELD_LABELS = { key: "Key (the event's EventKey)", url: "URL", appid: "Mini program appid",
    pagepath: "Mini program page path", media_id: "media_id", article_id: "article_id" };
  var FIELD_LIMITS = { key: LIMITS.key, url: LIMITS.url };

  function bytes(text) { return new TextEncoder().encode(text || "").length; }
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      if (name === "text") node.textContent = attrs[name];
      else if (name === "class") node.className = attrs[name];
      else if (name.slice(0, 2) === "on") node.addEventListener(name.slice(2), attrs[name]);
      else if (attrs[name] !== null && attrs[name] !== undefined && attrs[name] !== false) node.setAttribute(name, attrs[name]);
    });
    (children || []).forEach(function (child) { if (child) node.appendChild(typeof child === "string" ? document.createTextNode(child) : child); });
    return node;
  }
  function pathLabel(path) {
    return path.length === 1 ? "button " + (path[0] + 1) : "button " + (path[0] + 1) + " › sub-button " + (path[1] + 1);
  }

  function init() {
    var root = document.getElementById("wx-menu-editor");
    if (!root) return;
    var data = JSON.parse(document.getElementById("wx-menu-data").textContent);
    var input = document.getElementById("id_buttons");
    var tree = document.getElementById("wx-menu-tree"), detail = document.getElementById("wx-menu-detail");
    var bar = document.getElementById("wx-menubar"), chat = document.getElementById("wx-menu-chat");
    var addTop = document.getElementById("wx-add-top"), summary = document.getElementById("wx-menu-problems");
    var readOnly = root.hasAttribute("data-readonly");
    var buttons = [];
    try { buttons = JSON.parse(input.value || "[]"); } catch (e) { buttons = []; }
    if (!Array.isArray(buttons)) buttons = [];
    buttons.forEach(function (b) { if (Array.isArray(b.sub_button) && !b.sub_button.length) delete b.sub_button; });
    var serverProblems = data.problems || [];  // [{path: [...], field, message}] from the last validation
    var rulesByKey = data.rules || {}, clicks = data.clicks || {};
    var selected = buttons.length ? [0] : null, openTop = selected ? 0 : null;
    var seq = 0;

    function get(path) { return path.length === 1 ? buttons[path[0]] : buttons[path[0]].sub_button[path[1]]; }
    function siblings(path) { return path.length === 1 ? buttons : buttons[path[0]].sub_button; }
    function hasSubs(button) { return Array.isArray(button.sub_button) && button.sub_button.length > 0; }
    function allKeys() {
      var keys = [];
      buttons.forEach(function (b) { keys.push(b.key); (b.sub_button || []).forEach(function (s) { keys.push(s.key); }); });
      return keys.filter(Boolean);
    }
    function freshKey() {
      var keys = allKeys(), key;
      do { seq += 1; key = "MENU_" + seq; } while (keys.indexOf(key) !== -1);
      return key;
    }
    function newButton(top) { return { type: "click", name: top ? "Menu" : "Item", key: freshKey() }; }

    // WeChat's JSON for one button: the fields of its type only (a parent: name and sub_button).
    function clean(button, top) {
      if (top && hasSubs(button)) {
        return { name: button.name || "", sub_button: button.sub_button.map(function (s) { return clean(s, false); }) };
      }
      var out = { type: button.type, name: button.name || "" };
      (TYPE_FIELDS[button.type] || []).forEach(function (field) { out[field] = button[field] || ""; });
      return out;
    }
    function save() {
      input.value = JSON.stringify(buttons.map(function (b) { return clean(b, true); }));
    }

    // What the browser can tell at once (the server checks everything again on save).
    function localProblems() {
      var problems = [], seen = {};
      if (!buttons.length) problems.push({ path: [], field: "button", message: "a menu needs 1 to 3 buttons" });
      function check(button, path) {
        var top = path.length === 1, limit = top ? LIMITS.top : LIMITS.sub, n = bytes(button.name);
        if (!(button.name || "").trim()) problems.push({ path: path, field: "name", message: "name is required" });
        else if (n > limit) problems.push({ path: path, field: "name", message: "name is " + n + " bytes, the limit is " + limit });
        if (top && hasSubs(button)) return;
        (TYPE_FIELDS[button.type] || []).forEach(function (field) {
          var value = (button[field] || "").trim();
          if (!value) problems.push({ path: path, field: field, message: field + " is required for a " + button.type + " button" });
          else if (FIELD_LIMITS[field] && bytes(value) > FIELD_LIMITS[field]) {
            problems.push({ path: path, field: field, message: field + " is " + bytes(value) + " bytes, the limit is " + FIELD_LIMITS[field] });
          }
        });
        if (button.key && (TYPE_FIELDS[button.type] || []).indexOf("key") !== -1) {
          if (seen[button.key]) problems.push({ path: path, field: "key", message: "key " + button.key + " is already used by " + pathLabel(seen[button.key]) });
          else seen[button.key] = path;
        }
      }
      buttons.forEach(function (b, i) {
        check(b, [i]);
        (b.sub_button || []).forEach(function (s, j) { check(s, [i, j]); });
      });
      return problems;
    }
    function problemsAt(path, problems) {
      return problems.filter(function (p) { return p.path.length === path.length && p.path.every(function (v, i) { return v === path[i]; }); });
    }
    function same(a, b) { return a && b && a.length === b.length && a.every(function (v, i) { return v === b[i]; }); }

    function select(path) {
      selected = path;
      if (path) openTop = path[0];
      render();
    }
    function edited() { serverProblems = []; save(); render(); }

    // ---- tree operations ----
    function move(path, delta) {
      var list = siblings(path), i = path[path.length - 1], j = i + delta;
      if (j < 0 || j >= list.length) return;
      var item = list.splice(i, 1)[0];
      list.splice(j, 0, item);
      select(path.length === 1 ? [j] : [path[0], j]);
      edited();
    }
    // A parent whose last sub-button left becomes a plain button again (with an action).
    function dropEmptySubs(i) {
      var parent = buttons[i];
      if (!parent || hasSubs(parent)) return;
      delete parent.sub_button;
      if (!TYPE_FIELDS[parent.type]) { parent.type = "click"; parent.key = parent.key || freshKey(); }
    }
    function remove(path) {
      siblings(path).splice(path[path.length - 1], 1);
      if (path.length === 2) dropEmptySubs(path[0]);
      selected = buttons.length ? (path.length === 2 ? [path[0]] : [Math.max(0, path[0] - 1)]) : null;
      openTop = selected ? selected[0] : null;
      edited();
    }
    function addSub(i) {
      var parent = buttons[i];
      if (!parent.sub_button) parent.sub_button = [];
      if (parent.sub_button.length >= MAX_SUB) return;
      parent.sub_button.push(newButton(false));
      select([i, parent.sub_button.length - 1]);
      edited();
    }
    // Move a button under another parent ("top" to make it a top-level button).
    function reparent(path, target) {
      var button = get(path);
      if (target === "top") {
        if (buttons.length >= MAX_TOP) return;
        siblings(path).splice(path[1], 1);
        dropEmptySubs(path[0]);
        buttons.push(button);
        select([buttons.length - 1]);
      } else {
        var to = parseInt(target, 10), parent = buttons[to];
        if ((parent.sub_button || []).length >= MAX_SUB || hasSubs(button)) return;
        siblings(path).splice(path[path.length - 1], 1);
        if (path.length === 2) dropEmptySubs(path[0]);
        if (path.length === 1 && path[0] < to) to -= 1;  // the list shrank before the target
        parent = buttons[to];
        parent.sub_button = (parent.sub_button || []).concat([button]);
        select([to, parent.sub_button.length - 1]);
      }
      edited();
    }

    // ---- rendering ----
    function clickCount(button) {
      var key = button.type === "view" ? button.url : button.key;
      return key && clicks[key] ? clicks[key] : 0;
    }
    function treeRow(button, path, problems) {
      var top = path.length === 1, parent = top && hasSubs(button);
      var bad = problemsAt(path, problems).length > 0;
      var tools = readOnly ? null : el("span", { class: "wx-tree-tools" }, [
        el("button", { type: "button", class: "wx-tree-up", title: "Move up", "aria-label": "Move up", text: "↑",
                       disabled: path[path.length - 1] === 0, onclick: function (e) { e.stopPropagation(); move(path, -1); } }),
        el("button", { type: "button", class: "wx-tree-down", title: "Move down", "aria-label": "Move down", text: "↓",
                       disabled: path[path.length - 1] === siblings(path).length - 1,
                       onclick: function (e) { e.stopPropagation(); move(path, 1); } }),
        el("button", { type: "button", class: "wx-tree-delete", title: "Delete", "aria-label": "Delete", text: "✕",
                       onclick: function (e) { e.stopPropagation(); remove(path); } })
      ]);
      var n = clickCount(button);
      var row = el("div", { class: "wx-tree-row" + (same(selected, path) ? " selected" : "") + (bad ? " invalid" : ""),
                             "data-path": path.join("-"), role: "button", tabindex: "0",
                             onclick: function () { select(path); },
                             onkeydown: function (e) { if (e.key === "Enter") select(path); } }, [
        el("span", { class: "wx-tree-name", text: button.name || "(no name)" }),
        el("span", { class: "wx-tree-type", text: parent ? "sub-menu" : button.type }),
        parent ? null : el("span", { class: "wx-tree-clicks", title: "clicks in the last 7 days", text: n ? n + "×" : "" }),
        tools
      ]);
      var item = el("li", { class: top ? "wx-tree-top" : "wx-tree-sub" }, [row]);
      if (top) {
        var subs = el("ol", { class: "wx-tree-subs" });
        (button.sub_button || []).forEach(function (s, j) { subs.appendChild(treeRow(s, [path[0], j], problems)); });
        if (!readOnly && (button.sub_button || []).length < MAX_SUB) {
          subs.appendChild(el("li", { class: "wx-tree-sub" }, [el("button", {
            type: "button", class: "wx-add-sub", text: "+ sub-button",
            onclick: function () { addSub(path[0]); } })]));
        }
        item.appendChild(subs);
      }
      return item;
    }

    function field(label, control, extra) {
      return el("div", { class: "wx-field" }, [el("label", { for: control.id, text: label }), control].concat(extra || []));
    }
    function counter(value, limit) {
      var n = bytes(value);
      return el("div", { class: "wx-bytes" + (n > limit ? " over" : ""), text: n + " / " + limit + " bytes" });
    }
    function errorList(problems) {
      if (!problems.length) return null;
      return el("ul", { class: "errorlist" }, problems.map(function (p) { return el("li", { text: p.message }); }));
    }

    function renderDetail(problems) {
      detail.innerHTML = "";
      if (!selected) {
        detail.appendChild(el("p", { class: "wx-muted", text: "Add a button to start." }));
        return;
      }
      var path = selected, button = get(path), top = path.length === 1, limit = top ? LIMITS.top : LIMITS.sub;
      var here = problemsAt(path, problems);
      function fieldProblems(name) { return errorList(here.filter(function (p) { return p.field === name; })); }
      detail.appendChild(el("h2", { text: (top ? "Button " + (path[0] + 1) : "Button " + (path[0] + 1) + " › sub-button " + (path[1] + 1)) }));
      var name = el("input", { type: "text", id: "wx-button-name", value: button.name || "", disabled: readOnly, autocomplete: "off" });
      var nameCounter = counter(button.name, limit);
      name.addEventListener("input", function () {
        button.name = name.value;
        var fresh = counter(name.value, limit);
        nameCounter.replaceWith(fresh); nameCounter = fresh;
        serverProblems = serverProblems.filter(function (p) { return !(same(p.path, path) && p.field === "name"); });
        save(); renderTree(); renderPreview();
      });
      detail.appendChild(field("Name", name, [nameCounter, fieldProblems("name")]));
      if (top && hasSubs(button)) {
        detail.appendChild(el("p", { class: "help", text: "Opens a sub-menu of " + button.sub_button.length +
          " button(s); a button with a sub-menu has no action of its own." }));
      } else {
        var type = el("select", { id: "wx-button-type", disabled: readOnly });
        if (!TYPE_FIELDS[button.type]) {  // e.g. a pulled menu with a type WeChat no longer accepts
          type.appendChild(el("option", { value: button.type || "", text: (button.type || "(none)") + " — not supported", selected: "selected" }));
        }
        Object.keys(TYPE_FIELDS).forEach(function (t) {
          type.appendChild(el("option", { value: t, text: t + " — " + TYPE_LABELS[t], selected: t === button.type ? "selected" : null }));
        });
        type.addEventListener("change", function () {
          button.type = type.value;
          if ((TYPE_FIELDS[button.type] || []).indexOf("key") !== -1 && !button.key) button.key = freshKey();
          edited();
        });
        detail.appendChild(field("Type", type, [fieldProblems("type")]));
        (TYPE_FIELDS[button.type] || []).forEach(function (name) {
          var control = el("input", { type: "text", id: "wx-button-" + name, value: button[name] || "", disabled: readOnly,
                                      autocomplete: "off", "data-field": name });
          var limitBytes = FIELD_LIMITS[name], count = limitBytes ? counter(button[name], limitBytes) : null;
          control.addEventListener("input", function () {
            button[name] = control.value;
            if (count) { var fresh = counter(control.value, limitBytes); count.replaceWith(fresh); count = fresh; }
            serverProblems = serverProblems.filter(function (p) { return !(same(p.path, path) && p.field === name); });
            save(); renderTree(); renderPreview();
            // The linked rules follow the key (re-rendering all on "change" would swallow the
            // click that caused the blur).
            var rules = document.getElementById("wx-menu-rules");
            if (name === "key" && rules) rules.replaceWith(renderRules(button));
          });
          detail.appendChild(field(FIELD_LABELS[name], control, [count, fieldProblems(name)]));
        });
        var n = clickCount(button);
        detail.appendChild(el("p", { class: "wx-button-clicks", text: n + " click(s) in the last " + (data.click_days || 7) + " days" }));
      }
      if (!readOnly) {
        var move = el("select", { id: "wx-button-parent" });
        if (!top) move.appendChild(el("option", { value: "top", text: "Top level", disabled: buttons.length >= MAX_TOP }));
        else move.appendChild(el("option", { value: "", text: "Top level", selected: "selected" }));
        buttons.forEach(function (b, i) {
          var full = (b.sub_button || []).length >= MAX_SUB;
          if (top && (i === path[0] || hasSubs(button))) return;
          move.appendChild(el("option", { value: String(i), text: "Under “" + (b.name || "button " + (i + 1)) + "”",
                                          selected: !top && i === path[0] ? "selected" : null,
                                          disabled: full && !(path.length === 2 && i === path[0]) }));
        });
        move.addEventListener("change", function () {
          if (move.value === "" || (!top && move.value === String(path[0]))) return;
          reparent(path, move.value);
        });
        detail.appendChild(field("Place", move));
      }
      if (EVENTS[button.type] && !(top && hasSubs(button))) detail.appendChild(renderRules(button));
      var others = errorList(here.filter(function (p) { return ["name", "type"].concat(TYPE_FIELDS[button.type] || []).indexOf(p.field) === -1; }));
      if (others) detail.appendChild(others);
    }

    // ---- rule linking: which rules answer this button's event, and one step to add one ----
    function renderRules(button) {
      var box = el("div", { class: "wx-menu-rules", id: "wx-menu-rules" }, [el("h3", { text: "Reply rule" })]);
      var key = (button.key || "").trim(), linked = rulesByKey[key] || [];
      if (!key) { box.appendChild(el("p", { class: "wx-muted", text: "Give the button a key to link a rule." })); return box; }
      if (linked.length) {
        box.appendChild(el("ul", { class: "wx-linked-rules" }, linked.map(function (rule) {
          return el("li", {}, [el("a", { href: rule.url, class: "wx-linked-rule", text: rule.name }),
                               el("span", { class: "wx-muted", text: " " + (rule.reply || "") })]);
        })));
      } else {
        box.appendChild(el("p", { class: "wx-muted wx-no-rule", text: "No rule answers " + EVENTS[button.type] + " · " + key + " yet." }));
      }
      if (readOnly) return box;
      if (!data.link_url) {
        box.appendChild(el("p", { class: "help", text: data.link_hint || "" }));
        return box;
      }
      var status = el("p", { class: "wx-link-status", role: "status" });
      var reply = el("input", { type: "text", id: "wx-rule-reply", placeholder: "Reply text", autocomplete: "off" });
      var create = el("button", { type: "button", class: "button", id: "wx-rule-create", text: "Create rule" });
      var pick = el("select", { id: "wx-rule-pick" }, [el("option", { value: "", text: "— existing rule —" })]
        .concat((data.rule_choices || []).map(function (r) { return el("option", { value: String(r.id), text: r.name }); })));
      var attach = el("button", { type: "button", class: "button", id: "wx-rule-link", text: "Link" });
      function send(body) {
        status.textContent = "…";
        var form = new FormData();
        form.set("csrfmiddlewaretoken", document.querySelector("[name=csrfmiddlewaretoken]").value);
        form.set("key", key); form.set("type", button.type); form.set("name", button.name || "");
        Object.keys(body).forEach(function (k) { form.set(k, body[k]); });
        fetch(data.link_url, { method: "POST", body: form, credentials: "same-origin", headers: { "Accept": "application/json" } })
          .then(function (r) { return r.json().then(function (b) { return { ok: r.ok, body: b }; }); })
          .then(function (res) {
            if (!res.ok) { status.textContent = res.body.error || "Could not link the rule."; status.className = "wx-link-status errornote"; return; }
            var rule = res.body.rule, list = (rulesByKey[key] || []).filter(function (r) { return r.id !== rule.id; });
            rulesByKey[key] = list.concat([rule]);
            if (!(data.rule_choices || []).some(function (r) { return r.id === rule.id; })) data.rule_choices.push({ id: rule.id, name: rule.name });
            render();
          })
          .catch(function (err) { status.textContent = "Request failed: " + err; });
      }
      create.addEventListener("click", function () { send({ reply_text: reply.value }); });
      reply.addEventListener("keydown", function (e) { if (e.key === "Enter") { e.preventDefault(); create.click(); } });
      attach.addEventListener("click", function () { if (pick.value) send({ rule: pick.value }); });
      box.appendChild(el("div", { class: "wx-link-row" }, [reply, create]));
      if ((data.rule_choices || []).length) box.appendChild(el("div", { class: "wx-link-row" }, [pick, attach]));
      box.appendChild(status);
      return box;
    }

    function renderTree() {
      var problems = localProblems().concat(serverProblems);
      tree.innerHTML = "";
      buttons.forEach(function (b, i) { tree.appendChild(treeRow(b, [i], problems)); });
      if (addTop) addTop.disabled = readOnly || buttons.length >= MAX_TOP;
      if (summary) {
        summary.innerHTML = "";
        var list = problems.map(function (p) { return el("li", { text: (p.path.length ? pathLabel(p.path) + ": " : "") + p.message }); });
        if (list.length) summary.appendChild(el("ul", { class: "errorlist" }, list));
      }
      return problems;
    }

    // The phone: three columns at the bottom, the open one's sub-menu above it (WeChat lists the
    // first sub-button at the top).
    function renderPreview() {
      bar.innerHTML = "";
      bar.appendChild(el("span", { class: "wx-menubar-kbd", "aria-hidden": "true", text: "⌨" }));
      buttons.forEach(function (b, i) {
        var parent = hasSubs(b);
        var col = el("div", { class: "wx-menubar-col" + (same(selected, [i]) ? " selected" : "") + (openTop === i && parent ? " open" : ""),
                              "data-path": String(i) });
        col.appendChild(el("button", { type: "button", class: "wx-menubar-btn", title: b.name || "",
          onclick: function () {
            if (parent && openTop === i && !same(selected, [i]) ) { openTop = null; selected = [i]; render(); return; }
            select([i]); tap([i]);
          } }, [parent ? el("span", { class: "wx-menubar-icon", text: "≡ " }) : null, el("span", { class: "wx-menubar-name", text: b.name || " " })]));
        if (parent && openTop === i) {
          col.appendChild(el("ul", { class: "wx-menu-pop" }, b.sub_button.map(function (s, j) {
            return el("li", { class: same(selected, [i, j]) ? "selected" : "", "data-path": i + "-" + j }, [
              el("button", { type: "button", title: s.name || "", text: s.name || " ", onclick: function () { select([i, j]); tap([i, j]); } })]);
          })));
        }
        bar.appendChild(col);
      });
      bar.setAttribute("data-columns", String(buttons.length));
    }
    // What a tap would do, in the chat area of the preview.
    function tap(path) {
      var button = get(path);
      if (path.length === 1 && hasSubs(button)) return;
      var line, event = EVENTS[button.type];
      if (event) {
        var rules = rulesByKey[(button.key || "").trim()] || [];
        line = "Tap sends " + event + " · " + (button.key || "(no key)") + (rules.length ? " → rule “" + rules[0].name + "”" : " → no rule yet");
      } else if (button.type === "view" || button.type === "miniprogram") {
        line = "Tap opens " + (button.url || "(no URL)");
      } else {
        line = "Tap: " + (TYPE_LABELS[button.type] || button.type);
      }
      chat.innerHTML = "";
      chat.appendChild(el("div", { class: "wx-sys wx-menu-tap", text: line }));
    }

    function render() {
      var problems = renderTree();
      renderDetail(problems);
      renderPreview();
    }

    // The match rule's fields only for a conditional menu.
    var kind = document.getElementById("id_kind"), matchrule = document.querySelector("fieldset.wx-matchrule");
    function syncKind() {
      if (matchrule) matchrule.classList.toggle("wx-hidden", (kind ? kind.value : root.getAttribute("data-kind")) !== "conditional");
    }
    if (kind) kind.addEventListener("change", syncKind);
    syncKind();
    if (addTop) addTop.addEventListener("click", function () {
      if (buttons.length >= MAX_TOP) return;
      buttons.push(newButton(true));
      select([buttons.length - 1]);
      edited();
    });
    // Reflect the key counter: start after the highest MENU_<n> in use.
    allKeys().forEach(function (k) { var m = /^MENU_(\d+)$/.exec(k); if (m) seq = Math.max(seq, parseInt(m[1], 10)); });
    if (serverProblems.length && serverProblems[0].path.length) select(serverProblems[0].path.slice());
    save();
    render();
  }
  document.addEventListener("DOMContentLoaded", init);
})();
