// Guild dashboard: live pages.
//
// guildd sends a "change" event whenever a document changes, here or synced in from a peer.
// Each page's data sits in an element with id "live" that htmx refreshes on the
// "guild-change" event (hx-trigger="guild-change from:body"). A refresh that would wipe
// what someone is typing, or move what a keyboard user is on, waits until they leave it.
(function () {
  "use strict";

  function setLive(state) {
    document.documentElement.dataset.live = state;
  }

  function busy(region) {
    var active = document.activeElement;
    if (active && region.contains(active) && active.matches("input, textarea, select, button, a")) {
      return true;
    }
    var fields = region.querySelectorAll("input[type=text], input[type=search], textarea");
    for (var i = 0; i < fields.length; i++) {
      if (fields[i].value !== fields[i].defaultValue) {
        return true;
      }
    }
    return false;
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    var region = event.detail.elt;
    if (region.id === "live" && busy(region)) {
      event.preventDefault();
      region.dataset.stale = "true";
    }
  });

  document.addEventListener("focusout", function () {
    // Once focus has landed (it may move to another element of the region).
    setTimeout(function () {
      var region = document.getElementById("live");
      if (region && region.dataset.stale && !busy(region)) {
        delete region.dataset.stale;
        htmx.trigger(document.body, "guild-change");
      }
    }, 0);
  });

  // Browsers open at most six connections to one host over HTTP/1.1, and each event
  // stream holds one: only a page that is shown listens. A hidden tab, or a page kept in the
  // back/forward cache, closes its stream and catches up when shown again.
  var source = null;
  var openedBefore = false;

  function connect() {
    if (source) {
      return;
    }
    var stream = new EventSource("/ui/events");
    source = stream;
    stream.addEventListener("open", function () {
      setLive("on");
      // After a reconnect, changes may have happened while the stream was down.
      if (openedBefore) {
        htmx.trigger(document.body, "guild-change");
      }
      openedBefore = true;
    });
    stream.addEventListener("change", function () {
      htmx.trigger(document.body, "guild-change");
    });
    stream.addEventListener("error", function () {
      // The browser reconnects by itself; a closed stream (signed out) stays closed.
      setLive(stream.readyState === EventSource.CLOSED ? "off" : "reconnecting");
    });
  }

  function disconnect() {
    if (source) {
      source.close();
      source = null;
    }
    setLive("off");
  }

  document.addEventListener("visibilitychange", function () {
    if (document.hidden) {
      disconnect();
    } else {
      connect();
    }
  });
  window.addEventListener("pagehide", disconnect);
  window.addEventListener("pageshow", function (event) {
    if (event.persisted && !document.hidden) {
      connect();
    }
  });

  function start() {
    if (!document.hidden) {
      connect();
    }
  }

  setLive("off");
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
