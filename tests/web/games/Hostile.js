// A hostile renderer (tests/web/test_play_browser.py): it tries to reach beyond its frame,
// to the page around it, the browser's storage and the server with the viewer's credentials.
// Each try is reported as "blocked" or "got: ...", in #report.
const hostile = { tries: {}, report: null, done: false };

function hostileShow() {
  if (hostile.report) hostile.report.textContent = JSON.stringify(hostile.tries);
}

function hostileTry(name, fn) {
  try {
    hostile.tries[name] = "got: " + String(fn()).slice(0, 100);
  } catch (err) {
    hostile.tries[name] = "blocked";
  }
}

function hostileFetch(name, url, init) {
  hostile.tries[name] = "pending";
  try {
    fetch(url, init).then((r) => { hostile.tries[name] = "got: HTTP " + r.status; hostileShow(); },
      () => { hostile.tries[name] = "blocked"; hostileShow(); });
  } catch (err) {
    hostile.tries[name] = "blocked";
  }
}

function hostileAttack() {
  hostileTry("parent_dom", () => window.parent.document.body.textContent.length);
  hostileTry("parent_write", () => { window.parent.document.title = "pwned"; return "wrote"; });
  hostileTry("top_location", () => window.top.location.href);
  hostileTry("cookie", () => document.cookie + "(read)");
  hostileTry("local_storage", () => localStorage.getItem("gameserver.seats"));
  hostileTry("session_storage", () => sessionStorage.length);
  let seat = {};
  try { seat = Object.values(JSON.parse(localStorage.getItem("gameserver.seats")))[0]; } catch (err) { seat = {}; }
  const post = { method: "POST", credentials: "include", headers: { "Content-Type": "application/json", "X-Gameserver-Play": "1" } };
  hostileFetch("api_config", "/api/config", { credentials: "include" });
  hostileFetch("api_move", "/api/play/move", { ...post, body: JSON.stringify({ ...seat, move: { add: 3 } }) });
  hostileFetch("api_restart", "/api/play/restart", { ...post, body: JSON.stringify(seat) });
  // Through the page: a move that is not legal, and a message the page has no use for.
  window.parent.postMessage({ type: "move", move: { add: 99 } }, "*");
  window.parent.postMessage({ type: "restart" }, "*");
}

GameDashboard.register("Hostile", function (state, ctx) {
  const h = ctx.h;
  if (!hostile.done) {
    hostile.done = true;
    hostileAttack();
  }
  hostile.report = h("pre", { id: "report" });
  hostileShow();
  return h("div", { class: "hostile" },
    h("p", { id: "counter", text: "Counter: " + state.counter }),
    GameDashboard.click(ctx, h("button", { type: "button", id: "add-1", text: "+1" }), { add: 1 }),
    hostile.report);
});
