/* Media id pickers: beside every media id input of the rule forms (image, voice, video replies,
   music thumbs), of the menu editor (media_id buttons) and of the mass message form, a select of
   the account's materials of the right type, loaded from the library. Picking fills the input (in
   the mass form's list of image ids, adds a line); typing a raw id keeps working. */
(function () {
  "use strict";
  // The admin may be mounted anywhere: the choices sit beside this page's model in the admin.
  var at = location.pathname.indexOf("/wechat_app/");
  var CHOICES = (at === -1 ? "/admin" : location.pathname.slice(0, at)) + "/wechat_app/material/choices/";
  var SELECTOR = "input.wx-reply-media_id, input.wx-reply-thumb_media_id, input[data-field='media_id'], " +
    "textarea[data-kind-from]";
  // The mass message form: the material type each kind of mass message sends.
  var MASS_KINDS = { image: "image", voice: "voice", mpvideo: "video", mpnews: "news" };
  var cache = {};
  // Each picker's latest fill: an answer for an earlier one (the kind or account chosen before,
  // still in flight) is dropped, or it would add that kind's materials to the new list.
  var latestFill = new WeakMap();

  function choicesUrl() {
    var base = CHOICES;
    var account = document.getElementById("id_account");
    if (account && account.tagName === "SELECT" && account.value) return base + "?account=" + encodeURIComponent(account.value);
    var m = location.pathname.match(/\/wechat_app\/(rule|menu)\/(\d+)\/change\//);
    if (m) return base + "?" + m[1] + "=" + m[2];
    if (account && account.value) return base + "?account=" + encodeURIComponent(account.value);
    return null;
  }

  function kindFrom(input) {
    var from = input.getAttribute("data-kind-from");
    var select = from && document.getElementById(from);
    return select ? select.value : null;
  }

  function kindsFor(input) {
    if (input.hasAttribute("data-kind-from")) return MASS_KINDS[kindFrom(input)] || "image,voice,video,news";
    if (input.getAttribute("data-field") === "media_id") return "image,voice,video,news";
    if (input.classList.contains("wx-reply-thumb_media_id")) return "thumb,image";
    var card = input.closest(".wx-reply-card");
    var type = card && card.querySelector(".wx-reply-type");
    var value = type ? type.value : "image";
    return ["image", "voice", "video"].indexOf(value) !== -1 ? value : "image";
  }

  function load(url, done) {
    if (cache[url]) { cache[url].then(done); return; }
    cache[url] = fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : { results: [] }; })
      .then(function (data) { return data.results || []; })
      .catch(function () { return []; });
    cache[url].then(done);
  }

  function fill(input, select) {
    var token = {};
    latestFill.set(select, token);
    var base = choicesUrl();
    select.innerHTML = "";
    var first = document.createElement("option");
    first.value = ""; first.textContent = base ? "Pick from the library…" : "Choose the account first";
    select.appendChild(first);
    if (!base) return;
    load(base + "&kind=" + kindsFor(input), function (items) {
      if (latestFill.get(select) !== token) return;
      if (!items.length) first.textContent = "No material of this type (upload in Material library)";
      items.forEach(function (item) {
        var option = document.createElement("option");
        option.value = item.media_id; option.textContent = item.label;
        if (item.media_id === input.value) option.selected = true;
        select.appendChild(option);
      });
    });
  }

  function enhance(input) {
    if (input.dataset.wxPicker) return;
    input.dataset.wxPicker = "1";
    var select = document.createElement("select");
    select.className = "wx-material-picker";
    select.setAttribute("aria-label", "Pick a media id from the material library");
    select.addEventListener("change", function () {
      if (!select.value) return;
      var lines = input.value.split("\n").map(function (s) { return s.trim(); }).filter(Boolean);
      if (input.tagName === "TEXTAREA" && kindFrom(input) === "image" && lines.indexOf(select.value) === -1) {
        input.value = lines.concat([select.value]).join("\n");  // an image mass message: up to 8 ids
      } else {
        input.value = select.value;
      }
      input.dispatchEvent(new Event("input", { bubbles: true }));
      input.dispatchEvent(new Event("change", { bubbles: true }));
    });
    input.insertAdjacentElement("afterend", select);
    fill(input, select);
    var card = input.closest(".wx-reply-card");
    var type = card && card.querySelector(".wx-reply-type");
    if (type) type.addEventListener("change", function () { fill(input, select); });
    var from = input.getAttribute("data-kind-from");
    if (from && document.getElementById(from)) {
      document.getElementById(from).addEventListener("change", function () { fill(input, select); });
    }
  }

  function scan(root) {
    (root.querySelectorAll ? root : document).querySelectorAll(SELECTOR).forEach(function (input) {
      if (!input.name || input.name.indexOf("__reply__") === -1) enhance(input);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    scan(document);
    new MutationObserver(function () { scan(document); }).observe(document.body, { childList: true, subtree: true });
    var account = document.getElementById("id_account");
    if (account) account.addEventListener("change", function () {
      document.querySelectorAll("select.wx-material-picker").forEach(function (select) {
        fill(select.previousElementSibling, select);
      });
    });
  });
})();
