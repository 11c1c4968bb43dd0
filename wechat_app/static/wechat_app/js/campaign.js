/* Campaign screens: keyword fields follow the chosen template (with a live preview), recipient
   fields follow the audience, and progress refreshes itself while a campaign is sending. */
(function () {
  "use strict";
  var KEYWORD_RE = /\{\{\s*([A-Za-z0-9_]+)\.DATA\s*\}\}/g;

  function templates() {
    var node = document.getElementById("wx-campaign-templates");
    return node ? JSON.parse(node.textContent) : {};
  }

  function renderPreview(box) {
    var select = document.getElementById("id_template");
    var info = select && templates()[select.value];
    var preview = box.querySelector(".wx-template-preview");
    if (!preview) return;
    if (!info) { preview.textContent = ""; return; }
    var values = {};
    box.querySelectorAll("input[data-keyword]").forEach(function (input) { values[input.dataset.keyword] = input.value; });
    preview.textContent = info.content.replace(KEYWORD_RE, function (all, name) { return values[name] ? values[name] : all; });
  }

  function rebuildKeywords(box) {
    var select = document.getElementById("id_template");
    var info = templates()[select.value];
    var fields = box.querySelector(".wx-keyword-fields");
    var name = box.dataset.name;
    var old = {};
    fields.querySelectorAll("input[data-keyword]").forEach(function (input) { old[input.dataset.keyword] = input.value; });
    fields.textContent = "";
    if (!info || !info.keywords.length) {
      var p = document.createElement("p");
      p.className = "wx-muted wx-keyword-empty";
      p.textContent = info ? "This template has no keywords." : "Choose a template: its keywords appear here.";
      fields.appendChild(p);
    } else {
      info.keywords.forEach(function (keyword) {
        var row = document.createElement("div"); row.className = "wx-keyword";
        var label = document.createElement("label"); label.htmlFor = "id_" + name + "__" + keyword;
        var code = document.createElement("code"); code.textContent = keyword; label.appendChild(code);
        var input = document.createElement("input");
        input.type = "text"; input.className = "vTextField"; input.maxLength = 500;
        input.name = name + "__" + keyword; input.id = label.htmlFor; input.dataset.keyword = keyword;
        input.value = old[keyword] || "";
        row.appendChild(label); row.appendChild(input); fields.appendChild(row);
      });
    }
    renderPreview(box);
  }

  function toggleAudience() {
    var audience = document.getElementById("id_audience");
    if (!audience) return;
    var openids = document.querySelector(".form-row.field-openids");
    var tag = document.querySelector(".form-row.field-tag_id");
    if (openids) openids.classList.toggle("wx-hidden", audience.value !== "list");
    if (tag) tag.classList.toggle("wx-hidden", audience.value !== "tag");
  }

  function poll() {
    var anchor = document.getElementById("wx-campaign-poll");
    if (!anchor) return;
    var running = document.querySelectorAll("[data-campaign-progress][data-status=running]");
    if (!running.length) return;
    var ids = Array.prototype.map.call(running, function (el) { return "id=" + el.dataset.campaignProgress; });
    fetch(anchor.dataset.url + "?" + ids.join("&"), {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.ok ? r.json() : {}; })
      .then(function (data) {
        Object.keys(data).forEach(function (id) {
          var item = data[id];
          document.querySelectorAll('[data-campaign-progress="' + id + '"]').forEach(function (el) { el.outerHTML = item.html; });
          document.querySelectorAll('[data-campaign-status="' + id + '"]').forEach(function (el) {
            el.textContent = item.status_display;
            el.className = el.className.replace(/wx-campaign-\w+/, "wx-campaign-" + item.status);
          });
        });
      })
      .catch(function () {})
      .then(function () { setTimeout(poll, 3000); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var box = document.querySelector(".wx-keywords");
    var select = document.getElementById("id_template");
    if (box && select) {
      select.addEventListener("change", function () { rebuildKeywords(box); });
      box.addEventListener("input", function () { renderPreview(box); });
    }
    var audience = document.getElementById("id_audience");
    if (audience) { audience.addEventListener("change", toggleAudience); toggleAudience(); }
    setTimeout(poll, 3000);
  });
})();
