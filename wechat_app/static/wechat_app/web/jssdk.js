/* Calls wx.config with the configuration {% wechat_jssdk_config %} put in the page, as soon as
   WeChat's JS-SDK (jweixin) is there. State for the page's own code and for tests:
   window.wechatJSSDK = {config, state: "error" | "waiting-for-sdk" | "configured" | "ready" | "failed", error}
   and the same state on <html data-wechat-jssdk="...">. Pages register work with
   wechatJSSDK.ready(function (wx) { ... }). */
(function () {
  "use strict";
  var element = document.getElementById("wechat-jssdk-config");
  var config = element ? JSON.parse(element.textContent) : {error: "no configuration in the page"};
  var callbacks = [];
  var api = window.wechatJSSDK = {config: config, state: "", error: config.error || null,
    ready: function (callback) {
      if (api.state === "ready") { callback(window.wx); } else { callbacks.push(callback); }
    }};

  function setState(state) {
    api.state = state;
    document.documentElement.setAttribute("data-wechat-jssdk", state);
  }

  function configure() {
    if (config.error) { setState("error"); return true; }
    if (!window.wx || typeof window.wx.config !== "function") { setState("waiting-for-sdk"); return false; }
    window.wx.config(config);
    setState("configured");
    window.wx.ready(function () {
      setState("ready");
      callbacks.splice(0).forEach(function (callback) { callback(window.wx); });
    });
    window.wx.error(function (result) { api.error = result && result.errMsg; setState("failed"); });
    return true;
  }

  if (!configure()) {
    window.addEventListener("load", configure);
  }
})();
