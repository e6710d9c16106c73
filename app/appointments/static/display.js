// The call-up display: shows the branch's board and follows it live, from the server-sent
// events of `data-events`; where EventSource is missing, by polling `data-board` (the
// browser sends If-None-Match itself and gets 304 while nothing changed).
"use strict";
(function () {
  var POLL_MILLISECONDS = 2000;
  var RETRY_MILLISECONDS = 5000;
  var OFFLINE_AFTER_MILLISECONDS = 10000;
  var body = document.body;
  var latest = document.getElementById("latest");
  var earlier = document.getElementById("earlier");
  var status = document.getElementById("status");
  var noCall = latest.querySelector(".waiting").cloneNode(true); // shown again on a new day
  var shownCall = null;
  var offlineTimer = null;

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // "A017 → Schalter 3" as three spans; the arrow is not read out.
  function callLine(tag, className, call) {
    var line = element(tag, className);
    line.appendChild(element("span", "number", call.call_number));
    var arrow = element("span", "arrow", "→");
    arrow.setAttribute("aria-hidden", "true");
    line.appendChild(arrow);
    line.appendChild(element("span", "counter", call.counter_name));
    return line;
  }

  function sentence(lang, before, call, middle, after) {
    var line = element("p", lang === "en" ? "say en" : "say");
    line.lang = lang;
    line.appendChild(document.createTextNode(before));
    line.appendChild(element("strong", "", call.call_number));
    line.appendChild(document.createTextNode(middle));
    line.appendChild(element("strong", "", call.counter_name));
    line.appendChild(document.createTextNode(after));
    return line;
  }

  function showLatest(call) {
    var key = call ? call.call_number + "\u0000" + call.counter_name + "\u0000" + call.called_at : "";
    if (key === shownCall) return; // unchanged: nothing new to announce
    var first = shownCall === null;
    shownCall = key;
    var nodes = [];
    if (call) {
      var big = callLine("p", "call", call);
      big.setAttribute("aria-hidden", "true");
      nodes.push(big);
      nodes.push(sentence("de", "Nummer ", call, " bitte zu ", "."));
      nodes.push(sentence("en", "Number ", call, ", please go to ", "."));
    } else {
      nodes.push(noCall.cloneNode(true));
    }
    latest.replaceChildren.apply(latest, nodes);
    if (call && !first) {
      latest.classList.remove("fresh");
      void latest.offsetWidth; // restart the highlight
      latest.classList.add("fresh");
    }
  }

  function render(board) {
    var items = board.items || [];
    showLatest(items[0] || null);
    var rows = items.slice(1).map(function (call) {
      return callLine("li", "", call);
    });
    earlier.replaceChildren.apply(earlier, rows);
    online();
  }

  function online() {
    clearTimeout(offlineTimer);
    offlineTimer = null;
    status.hidden = true;
  }

  function unsure() {
    if (offlineTimer === null) {
      offlineTimer = setTimeout(function () {
        status.hidden = false;
      }, OFFLINE_AFTER_MILLISECONDS);
    }
  }

  function follow() {
    var source = new EventSource(body.dataset.events);
    source.addEventListener("calls", function (message) {
      render(JSON.parse(message.data));
    });
    source.addEventListener("open", online);
    source.addEventListener("error", function () {
      unsure();
      // The browser reconnects by itself after a stream ended or broke off; only a refused
      // stream (an error status) closes the source for good, so start a new one later.
      if (source.readyState === EventSource.CLOSED) {
        setTimeout(follow, RETRY_MILLISECONDS);
      }
    });
  }

  function poll() {
    fetch(body.dataset.board, { cache: "no-cache", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.json();
      })
      .then(render, unsure)
      .then(function () {
        setTimeout(poll, POLL_MILLISECONDS);
      });
  }

  if (window.EventSource) {
    follow();
  } else {
    poll();
  }
})();
