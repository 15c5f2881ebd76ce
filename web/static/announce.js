// Tells an open page that its deal context changed elsewhere (web/deal_context/announcements.py).
//
// Progressive enhancement: without this script every page still shows the notice owed on its next
// load. With it, the page learns within seconds and says so in its live region, without reloading
// or moving focus (the person may be typing):
//   * tabs of one browser tell each other what they were rendered for (BroadcastChannel);
//   * every few seconds while the page is visible it asks GET /api/context (no SQL when nothing
//     changed), which also covers other devices and other people; errors back off.
(function () {
  "use strict";

  var MAX_BACKOFF_MS = 60000;
  var REQUEST_TIMEOUT_MS = 4000;
  var CHANNEL = "dealdesk-context";

  var body = document.body;
  var region = document.querySelector("[data-announcer]");
  if (!body || !region || !body.dataset.contextUrl) {
    return; // signed out, or an error page: nothing to watch
  }
  // ANNOUNCE_POLL_SECONDS (web/config.py), 5 s unless configured.
  var POLL_MS = Math.max(Number(body.dataset.pollSeconds) || 5, 0.5) * 1000;

  var page = {
    userId: body.dataset.userId || "",
    dealId: body.dataset.dealId || "",
    version: Number(body.dataset.contextVersion || 0),
    dealName: body.dataset.dealName || "",
    url: body.dataset.contextUrl,
  };
  var delay = POLL_MS;
  var timer = null;
  var stopped = false;
  var shownKey = "";

  function dealLabel(name) {
    return name ? name : "another deal";
  }

  function button(label, onClick) {
    var element = document.createElement("button");
    element.type = "button";
    element.textContent = label;
    element.addEventListener("click", onClick);
    return element;
  }

  function link(label, href) {
    var element = document.createElement("a");
    element.href = href;
    element.textContent = label;
    return element;
  }

  // Says `text` in the live region with its actions; the same announcement is never repeated.
  function announce(key, text, actions) {
    if (key === shownKey) {
      return;
    }
    shownKey = key;
    var message = document.createElement("p");
    message.textContent = text;
    var row = document.createElement("div");
    row.className = "announcement-actions";
    actions.forEach(function (action) {
      row.appendChild(action);
    });
    var dismiss = button("Dismiss", function () {
      region.replaceChildren();
    });
    dismiss.className = "secondary";
    row.appendChild(dismiss);
    region.replaceChildren(message, row);
    region.dataset.announced = key;
  }

  function withdraw() {
    shownKey = "";
    region.replaceChildren();
    delete region.dataset.announced;
  }

  function reloadButton() {
    return button("Reload", function () {
      window.location.reload();
    });
  }

  function changeActions(newDealId, newDealName) {
    var actions = [reloadButton()];
    if (newDealId !== "") {
      actions.push(link("Go to " + dealLabel(newDealName), "/deals/" + encodeURIComponent(newDealId)));
    }
    return actions;
  }

  function intro() {
    return page.dealName ? "This page shows " + page.dealName + ". " : "";
  }

  // The session's context differs from the page's: say why, with the audit trail's words when there are some.
  function announceChange(state) {
    if (state.user_id !== undefined && String(state.user_id) !== page.userId) {
      // The cookie is the browser's: another tab signed out and in again as someone else.
      announce("user:" + state.user_id, "This browser is now signed in as " + state.user_email + " (in another tab).", [
        reloadButton(),
      ]);
      return;
    }
    var newDealId = state.deal_id === null || state.deal_id === undefined ? "" : String(state.deal_id);
    if (newDealId === page.dealId) {
      withdraw(); // changed back meanwhile: the page is right again
      return;
    }
    var notice = state.notice;
    var text;
    if (notice) {
      text = notice.text;
    } else if (newDealId === "") {
      text = intro() + "The current deal was cleared in another tab or window.";
    } else {
      text = intro() + "The current deal changed to " + dealLabel(state.deal_name) + " in another tab or window.";
    }
    var newName = state.deal_name || (notice && notice.new_deal_name) || "";
    announce("change:" + newDealId + ":" + state.version, text, changeActions(newDealId, newName));
    if (notice) {
      stopped = true; // the deal is gone for good; the next page load says it again, once
    }
  }

  function announceSignedOut(text) {
    var next = window.location.pathname + window.location.search;
    announce("signed-out", text || "You were signed out (elsewhere, or the session ended). Sign in again to go on.", [
      link("Sign in", "/login?next=" + encodeURIComponent(next)),
    ]);
    stopped = true;
  }

  function schedule(ms) {
    window.clearTimeout(timer);
    timer = null;
    if (!stopped && document.visibilityState === "visible") {
      timer = window.setTimeout(poll, ms);
    }
  }

  function poll() {
    timer = null;
    if (stopped) {
      return;
    }
    var controller = "AbortController" in window ? new AbortController() : null;
    var abort = controller
      ? window.setTimeout(function () {
          controller.abort();
        }, REQUEST_TIMEOUT_MS)
      : null;
    fetch(page.url, {
      credentials: "same-origin",
      cache: "no-store",
      headers: { Accept: "application/json" },
      signal: controller ? controller.signal : undefined,
    })
      .then(function (response) {
        if (response.status === 401) {
          announceSignedOut();
          return null;
        }
        if (!response.ok) {
          throw new Error("status " + response.status);
        }
        return response.json();
      })
      .then(function (state) {
        if (state) {
          delay = POLL_MS;
          announceChange(state);
        }
        schedule(delay);
      })
      .catch(function () {
        delay = Math.min(delay * 2, MAX_BACKOFF_MS); // the server or the network is struggling: ask less often
        schedule(delay);
      })
      .finally(function () {
        window.clearTimeout(abort);
      });
  }

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") {
      schedule(0); // back in view: check at once
    } else {
      window.clearTimeout(timer); // hidden: no polling
      timer = null;
    }
  });

  if ("BroadcastChannel" in window) {
    var channel = new BroadcastChannel(CHANNEL);
    channel.addEventListener("message", function (event) {
      var other = event.data || {};
      if (other.signedOut && other.userId === page.userId) {
        announceSignedOut("You signed out in another tab. Sign in again to go on.");
        return;
      }
      // Another tab of this browser rendered a newer context of the same user: its deal is current now.
      if (other.userId !== page.userId || !(other.version > page.version)) {
        return;
      }
      announceChange({ deal_id: other.dealId === "" ? null : other.dealId, deal_name: other.dealName, version: other.version });
    });
    channel.postMessage({ userId: page.userId, dealId: page.dealId, version: page.version, dealName: page.dealName });
    // Signing out here: the other tabs need not wait for their next poll.
    document.addEventListener("submit", function (event) {
      var form = event.target;
      if (form instanceof HTMLFormElement && new URL(form.action, window.location.href).pathname === "/logout") {
        channel.postMessage({ userId: page.userId, signedOut: true });
      }
    });
  }

  schedule(POLL_MS);
})();
