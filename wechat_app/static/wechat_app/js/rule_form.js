/* Rule form: show only the fields of each reply's type, edit news articles, add replies,
   hide what "no reply" and the match kind make irrelevant. Everything is delegated from the
   document so that rows added by the admin's inline "Add another" work too. */
(function () {
  "use strict";
  var MAX_ARTICLES = 8;
  var ARTICLE_FIELDS = [["title", "Title", ""], ["url", "Link (opened when tapped)", "https://"],
                        ["description", "Description", "Shown when the news has one article"],
                        ["pic_url", "Picture URL", "https://… (large 360×200, small 200×200)"]];
  var VALUE_HINTS = {
    exact: "The whole message, e.g. hello", contains: "A keyword, e.g. price", regex: "e.g. ^game (\\d+)$",
    event: "subscribe, unsubscribe, SCAN, CLICK, VIEW, LOCATION…", type: "image, voice, video, shortvideo, location, link, file",
  };

  function inTemplate(el) { return !!(el.closest && el.closest("template")); }

  function applyType(card) {
    var select = card.querySelector(".wx-reply-type");
    if (!select) return;
    card.querySelectorAll("[data-reply-types]").forEach(function (widget) {
      var field = widget.closest(".wx-field");
      if (!field) return;
      var types = widget.getAttribute("data-reply-types").split(" ");
      field.classList.toggle("wx-hidden", types.indexOf(select.value) < 0);
    });
  }

  function byteLength(text) { return new TextEncoder().encode(text).length; }
  function updateBytes(textarea) {
    var field = textarea.closest(".wx-field"), out = field && field.querySelector(".wx-bytes");
    if (!out) return;
    var max = parseInt(textarea.getAttribute("data-max-bytes"), 10) || 2048, n = byteLength(textarea.value);
    out.textContent = n + " / " + max + " bytes";
    out.classList.toggle("over", n > max);
  }

  /* ---- news articles: a list of small forms serialized into the hidden JSON textarea ---- */
  function readArticles(textarea) {
    try { var data = JSON.parse(textarea.value || "[]"); return Array.isArray(data) ? data : []; } catch (e) { return []; }
  }
  function articleRow(article, index) {
    var row = document.createElement("div");
    row.className = "wx-article";
    var n = document.createElement("div"); n.className = "wx-article-n"; n.textContent = index + 1; row.appendChild(n);
    ARTICLE_FIELDS.forEach(function (pair) {
      // A visible label: a placeholder alone vanishes as soon as the field is filled in.
      var label = document.createElement("label"); label.className = "wx-article-field";
      var caption = document.createElement("span"); caption.textContent = pair[1]; label.appendChild(caption);
      var input = document.createElement("input");
      input.type = "text";
      input.placeholder = pair[2];
      input.className = "wx-article-input vTextField"; input.setAttribute("data-article-field", pair[0]);
      input.value = article[pair[0]] || "";
      label.appendChild(input);
      row.appendChild(label);
    });
    var tools = document.createElement("div"); tools.className = "wx-article-tools";
    [["up", "↑", "Move up"], ["down", "↓", "Move down"], ["remove", "✕", "Remove article"]].forEach(function (b) {
      var btn = document.createElement("button"); btn.type = "button"; btn.className = "button wx-article-" + b[0];
      btn.textContent = b[1]; btn.title = b[2]; tools.appendChild(btn);
    });
    row.appendChild(tools);
    return row;
  }
  function renderArticles(field) {
    var textarea = field.querySelector(".wx-articles-json");
    var editor = field.querySelector(".wx-articles");
    if (!editor) {
      editor = document.createElement("div"); editor.className = "wx-articles";
      textarea.parentNode.insertBefore(editor, textarea.nextSibling);
      textarea.classList.add("wx-hidden");
    }
    var articles = readArticles(textarea);
    editor.innerHTML = "";
    articles.forEach(function (a, i) { editor.appendChild(articleRow(a, i)); });
    var bar = document.createElement("div");
    var add = document.createElement("button"); add.type = "button"; add.className = "button wx-add-article";
    add.textContent = "+ Add article"; add.disabled = articles.length >= MAX_ARTICLES;
    var count = document.createElement("span"); count.className = "wx-articles-count";
    count.textContent = " " + articles.length + " / " + MAX_ARTICLES + " articles";
    bar.appendChild(add); bar.appendChild(count); editor.appendChild(bar);
  }
  function serializeArticles(field) {
    var textarea = field.querySelector(".wx-articles-json");
    var rows = field.querySelectorAll(".wx-article");
    var data = [];
    rows.forEach(function (row) {
      var article = {};
      row.querySelectorAll("[data-article-field]").forEach(function (input) {
        if (input.value.trim()) article[input.getAttribute("data-article-field")] = input.value.trim();
      });
      data.push(article);
    });
    textarea.value = JSON.stringify(data);
    return data;
  }

  function enhance(root) {
    root.querySelectorAll(".wx-reply-card").forEach(function (card) {
      if (inTemplate(card)) return;
      applyType(card);
      card.querySelectorAll("textarea[data-max-bytes]").forEach(updateBytes);
      var articles = card.querySelector(".wx-field-articles");
      if (articles && !articles.querySelector(".wx-articles")) {
        var textarea = articles.querySelector(".wx-articles-json");
        if (textarea && !textarea.value.trim()) textarea.value = "[]";
        renderArticles(articles);
      }
      var del = card.querySelector(".wx-reply-delete input");
      if (del) card.classList.toggle("wx-deleted", del.checked);
    });
    root.querySelectorAll("select[name$='match_kind']").forEach(applyMatchKind);
    root.querySelectorAll("input[type=checkbox][name$='no_reply']").forEach(applyNoReply);
    root.querySelectorAll(".wx-replies").forEach(function (box) {
      if (!box.querySelector(".wx-noreply-note")) {
        var note = document.createElement("div"); note.className = "wx-noreply-note";
        note.textContent = "“No reply” is on: this rule answers nothing (WeChat gets “success”).";
        box.insertBefore(note, box.querySelector(".wx-reply-list"));
      }
    });
  }

  function scopeOf(el) {
    return el.closest(".inline-related") || el.closest("form");
  }
  function ownReplies(el) {
    var scope = scopeOf(el);
    var all = scope.querySelectorAll(".wx-replies");
    for (var i = 0; i < all.length; i++) {
      if (scope.classList.contains("inline-related") || !all[i].closest(".inline-related")) return all[i];
    }
    return null;
  }
  function applyNoReply(checkbox) {
    var box = ownReplies(checkbox);
    if (box) box.classList.toggle("wx-disabled", checkbox.checked);
  }
  function fieldRows(scope, name, isInline) {
    var rows = [];
    scope.querySelectorAll(".field-" + name).forEach(function (row) {
      // In a multi-field line the help text sits beside the field box: hide their wrapper.
      if (row.classList.contains("form-row") && row.querySelector(".fieldBox")) return;  // a whole line
      if (row.classList.contains("fieldBox")) row = row.parentElement;
      if (isInline || !row.closest(".inline-related")) rows.push(row);
    });
    return rows;
  }
  function applyMatchKind(select) {
    var isInline = !!select.closest(".inline-related");
    var scope = isInline ? select.closest(".inline-related") : select.closest("fieldset");
    if (!scope) return;
    var kind = select.value;
    fieldRows(scope, "match_key", isInline).forEach(function (r) { r.classList.toggle("wx-hidden", kind !== "event"); });
    fieldRows(scope, "match_flags", isInline).forEach(function (r) { r.classList.toggle("wx-hidden", kind !== "regex"); });
    fieldRows(scope, "match_value", isInline).forEach(function (r) { r.classList.toggle("wx-hidden", kind === "default"); });
    var value = scope.querySelector("input[name$='match_value']");
    if (value) value.placeholder = VALUE_HINTS[kind] || "";
  }

  function addReply(button) {
    var box = button.closest(".wx-replies");
    var total = box.querySelector("input[name$='-TOTAL_FORMS']");
    var prefix = total.name.replace(/-TOTAL_FORMS$/, "");
    var templatePrefix = box.getAttribute("data-template-prefix") + "-__reply__";
    var index = parseInt(total.value, 10);
    var html = box.querySelector("template.wx-reply-template").innerHTML.split(templatePrefix).join(prefix + "-" + index);
    var holder = document.createElement("div"); holder.innerHTML = html.trim();
    var card = holder.firstElementChild;
    box.querySelector(".wx-reply-list").appendChild(card);
    total.value = index + 1;
    enhance(card.parentNode);
    var first = card.querySelector("textarea, input[type=text]");
    if (first) first.focus();
  }

  document.addEventListener("change", function (e) {
    var t = e.target;
    if (t.classList.contains("wx-reply-type")) applyType(t.closest(".wx-reply-card"));
    else if (t.matches("select[name$='match_kind']")) applyMatchKind(t);
    else if (t.matches("input[type=checkbox][name$='no_reply']")) applyNoReply(t);
    else if (t.closest(".wx-reply-delete")) t.closest(".wx-reply-card").classList.toggle("wx-deleted", t.checked);
  });
  document.addEventListener("input", function (e) {
    var t = e.target;
    if (t.matches("textarea[data-max-bytes]")) updateBytes(t);
    else if (t.classList.contains("wx-article-input")) serializeArticles(t.closest(".wx-field-articles"));
  });
  document.addEventListener("click", function (e) {
    var t = e.target;
    if (t.classList.contains("wx-add-reply")) { e.preventDefault(); addReply(t); return; }
    var field = t.closest && t.closest(".wx-field-articles");
    if (!field) return;
    var rows = Array.prototype.slice.call(field.querySelectorAll(".wx-article"));
    var row = t.closest(".wx-article"), i = rows.indexOf(row);
    var data = serializeArticles(field);
    if (t.classList.contains("wx-add-article")) {
      if (data.length >= MAX_ARTICLES) return;
      data.push({});
    } else if (t.classList.contains("wx-article-remove")) { data.splice(i, 1); }
    else if (t.classList.contains("wx-article-up") && i > 0) { data.splice(i - 1, 0, data.splice(i, 1)[0]); }
    else if (t.classList.contains("wx-article-down") && i < data.length - 1) { data.splice(i + 1, 0, data.splice(i, 1)[0]); }
    else return;
    e.preventDefault();
    field.querySelector(".wx-articles-json").value = JSON.stringify(data);
    renderArticles(field);
    var inputs = field.querySelectorAll(".wx-article-input");
    if (t.classList.contains("wx-add-article") && inputs.length) inputs[inputs.length - 4].focus();
  });
  document.addEventListener("formset:added", function (e) { enhance(e.target); });
  document.addEventListener("DOMContentLoaded", function () { enhance(document); });
})();
