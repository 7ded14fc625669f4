// Live updates for a logged-in member's page, from the node's event stream (GET /events, node/live.py):
// the balance, the unread count in the menu and the dashboard's notifications change in place, a payment
// or an invitation shows a small notice, and an invitation page waiting for the full text shows it when it
// arrives. Every page works without this script: a reload (or the page's Refresh link) shows the same.
(function () {
  "use strict";
  var body = document.body;
  var url = body.getAttribute("data-live");
  if (!url || !window.EventSource || !window.fetch) {
    return;
  }
  var lastId = "";
  var failures = 0;
  var NOTES_SHOWN = 8;
  var TOAST_MS = 10000;

  function listen() {
    // A new EventSource cannot send Last-Event-ID itself: the id seen last goes as ?after=.
    var source = new EventSource(lastId ? url.replace(/([?&]after=)\d*/, "$1" + lastId) : url);
    function on(name, handle) {
      source.addEventListener(name, function (event) {
        failures = 0;
        if (event.lastEventId) {
          lastId = event.lastEventId;
        }
        handle(JSON.parse(event.data));
      });
    }
    on("balance", showBalance);
    on("payment", function (data) { toast(data.text, ""); });
    on("invitation", function (data) { toast(data.text, data.url); });
    on("notification", function (data) { showUnread(data); addNote(data); });
    on("text", function (data) { showText(data.id); });
    on("reset", function (data) {
      if (data.shown) {
        showBalance(data);
      }
      showUnread(data);
      checkText();
    });
    source.onerror = function () {
      // The browser reconnects by itself after a dropped stream; a refusal (logged out, 503) closes it for good.
      if (source.readyState === EventSource.CLOSED) {
        failures += 1;
        window.setTimeout(listen, Math.min(300, 15 * failures) * 1000);
      }
    };
  }

  function showBalance(data) {
    var shown = document.querySelectorAll("[data-live-balance]");
    for (var i = 0; i < shown.length; i += 1) {
      shown[i].textContent = data.shown;
    }
  }

  function showUnread(data) {
    var link = document.getElementById("nav-notes");
    if (!link) {
      return;
    }
    var count = link.querySelector(".count");
    if (data.unread > 0) {
      if (!count) {
        count = document.createElement("span");
        count.className = "count";
        link.appendChild(document.createTextNode(" "));
        link.appendChild(count);
      }
      count.textContent = data.unread_shown;
      link.setAttribute("aria-label", data.label);
    } else {
      if (count) {
        count.remove();
      }
      link.removeAttribute("aria-label");
    }
  }

  function addNote(data) {
    var list = document.getElementById("dashboard-notes");
    if (!list) {
      var empty = document.getElementById("dashboard-notes-empty");
      if (!empty) {
        return;
      }
      list = document.createElement("ul");
      list.id = "dashboard-notes";
      empty.replaceWith(list);
    }
    var item = document.createElement("li");
    var subject = document.createElement("strong");
    var text = document.createElement("small");
    subject.textContent = data.subject;
    text.textContent = data.body;
    item.appendChild(document.createTextNode(data.at_shown + " · "));
    item.appendChild(subject);
    item.appendChild(document.createElement("br"));
    item.appendChild(text);
    list.insertBefore(item, list.firstChild);
    while (list.children.length > NOTES_SHOWN) {
      list.lastElementChild.remove();
    }
  }

  function toasts() {
    var region = document.getElementById("toasts");
    if (!region) {
      region = document.createElement("div");
      region.id = "toasts";
      region.className = "toasts";
      region.setAttribute("role", "status");
      region.setAttribute("aria-live", "polite");
      body.appendChild(region);
    }
    return region;
  }

  function toast(text, href) {
    var note = document.createElement("div");
    var words = document.createElement(href ? "a" : "span");
    var close = document.createElement("button");
    note.className = "toast";
    words.textContent = text;
    if (href) {
      words.href = href;
    }
    close.type = "button";
    close.className = "toast-close";
    close.textContent = "×";
    close.setAttribute("aria-label", body.getAttribute("data-live-close") || "Close");
    close.addEventListener("click", function () { note.remove(); });
    note.appendChild(words);
    note.appendChild(close);
    toasts().appendChild(note);
    window.setTimeout(function () { note.remove(); }, TOAST_MS);
  }

  // The invitation page while the full text is on its way: show the page again, in place, once it is here.
  function waiting() {
    return document.getElementById("waiting-for-text");
  }

  function showText(incomingId) {
    var here = waiting();
    if (here && here.getAttribute("data-incoming") === String(incomingId)) {
      redraw();
    }
  }

  function checkText() {
    var here = waiting();
    if (!here) {
      return;
    }
    fetch(here.getAttribute("data-poll"), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (answer) {
        if (answer && answer.ready) {
          redraw();
        }
      })
      .catch(function () {});
  }

  function redraw() {
    fetch(window.location.href, { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        var fresh = html && new DOMParser().parseFromString(html, "text/html").querySelector("main");
        var main = document.querySelector("main");
        if (fresh && main) {
          main.replaceWith(document.adoptNode(fresh));
        }
      })
      .catch(function () {});
  }

  listen();
})();
