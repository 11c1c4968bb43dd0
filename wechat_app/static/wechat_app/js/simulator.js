/* The "try it" chat: send a message or an event, append the engine's answer as WeChat shows it. */
(function () {
  "use strict";
  var EVENT_KEYS = { SCAN: "scene id", CLICK: "menu EventKey", VIEW: "URL", subscribe: "QR scene (optional)", link: "URL" };
  function init() {
    var form = document.getElementById("wx-sim-form");
    if (!form) return;
    var chat = document.getElementById("wx-chat"), errors = document.getElementById("wx-errors");
    var kind = form.querySelector("select[name=kind]"), key = form.querySelector("input[name=key]");
    var text = form.querySelector("input[name=text]");
    function syncKind() {
      var k = kind.value, hint = EVENT_KEYS[k];
      key.classList.toggle("wx-hidden", !hint);
      key.placeholder = hint || "";
      text.placeholder = k === "text" ? "Type a message…" : (k === "voice" ? "What the user said (recognition)" :
        (k === "location" ? "Place label (optional)" : (k === "link" ? "Link title" : "(no text needed)")));
    }
    kind.addEventListener("change", syncKind); syncKind();
    function scroll() { chat.scrollTop = chat.scrollHeight; }
    scroll();
    ["account", "user"].forEach(function (name) {
      var el = form.querySelector("[name=" + name + "]");
      el.addEventListener("change", function () {
        var a = form.querySelector("[name=account]").value, u = form.querySelector("[name=user]").value;
        location.href = "?account=" + encodeURIComponent(a) + "&user=" + encodeURIComponent(u);
      });
    });
    var resetForm = document.getElementById("wx-reset-form");
    resetForm.addEventListener("submit", function (e) { e.preventDefault(); post("reset", new FormData(resetForm)); });
    form.addEventListener("submit", function (e) { e.preventDefault(); post("send", new FormData(form)); });
    // The live menu under the chat: a tap opens a sub-menu or sends the button's event.
    var menubar = document.getElementById("wx-sim-menubar");
    function closeMenus(except) {
      menubar.querySelectorAll(".wx-menu-pop").forEach(function (pop) {
        if (pop !== except) { pop.classList.add("wx-hidden"); pop.previousElementSibling.setAttribute("aria-expanded", "false"); }
      });
    }
    if (menubar) menubar.addEventListener("click", function (e) {
      var button = e.target.closest("button");
      if (!button || button.disabled) return;
      if (button.hasAttribute("data-sim-open")) {
        var pop = button.nextElementSibling;
        closeMenus(pop);
        button.setAttribute("aria-expanded", String(pop.classList.toggle("wx-hidden") === false));
        return;
      }
      closeMenus(null);
      var data = new FormData(form);
      data.set("kind", button.getAttribute("data-sim-kind"));
      data.set("key", button.getAttribute("data-sim-key"));
      data.set("text", "");
      post("send", data);
    });
    function post(action, data) {
      data.set("action", action);
      errors.textContent = "";
      fetch(location.pathname, { method: "POST", body: data, credentials: "same-origin",
                                  headers: { "Accept": "application/json" } })
        .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
        .then(function (res) {
          if (!res.ok) {
            var msgs = [];
            Object.keys(res.body.errors || {}).forEach(function (k) { msgs = msgs.concat(res.body.errors[k]); });
            errors.textContent = msgs.join(" ") || "Something went wrong.";
            return;
          }
          var session = document.getElementById("wx-session");
          if (session) session.textContent = res.body.session || session.getAttribute("data-empty");
          if (action === "reset") {
            chat.innerHTML = '<div class="wx-chat-empty">Conversation reset. Follow-up state and session cleared.</div>';
            return;
          }
          var empty = chat.querySelector(".wx-chat-empty"); if (empty) empty.remove();
          chat.insertAdjacentHTML("beforeend", res.body.html);
          text.value = ""; text.focus(); scroll();
        })
        .catch(function (err) { errors.textContent = "Request failed: " + err; });
    }
  }
  document.addEventListener("DOMContentLoaded", init);
})();
