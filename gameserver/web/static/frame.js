/* The inside of a game author's renderer frame (/renderers/GAME.html).
 *
 * The frame document holds style.css, renderers.js, this file and the
 * author's GAME.js. It is sandboxed (the iframe's sandbox="allow-scripts" and
 * the same in its Content-Security-Policy): an opaque origin, so no cookies,
 * no storage and no access to the page around it; no network (connect-src
 * 'none'). The page sends it {type: "draw", game, state, ctx} by
 * postMessage; this file rebuilds the ctx renderers know (renderers.js, at
 * the top; seatContext as on the page) and draws. ctx.move(m) and ctx.clickable(el, m) send
 * {type: "move", move} to the page, which sends it as this seat's move only
 * if it is legal now. The frame also reports its height, so the page can size it,
 * and passes on the keys it has no use for (GD.PAGE_KEYS: the replay's arrows,
 * projector mode); the page tells it when projector mode changes ({type: "look"}).
 */
"use strict";

(function () {
  const GD = window.GameDashboard;
  const board = document.getElementById("board");
  const memory = {}; // ctx.memory: kept between drawings (the page keeps the frame)
  const PLAYER_COLORS = 8;
  const send = (message) => window.parent.postMessage(message, "*");
  const colorClass = (id) => "p" + (((Number(id) % PLAYER_COLORS) + PLAYER_COLORS) % PLAYER_COLORS);

  function context(data) {
    const players = Array.isArray(data.players) ? data.players : [];
    const name = (id) => {
      const p = players.find((x) => x.id === id);
      return (p && p.name) || `player ${id}`;
    };
    const ctx = { game: data.game, player: data.player, players, name, h: GD.h, jsonTree: GD.jsonTree, colorClass };
    if (!data.playing) return ctx;
    const legal = Array.isArray(data.legal) ? data.legal : null;
    return GD.seatContext(ctx, legal, Boolean(data.myTurn), memory, (m) => send({ type: "move", move: m }));
  }

  window.addEventListener("message", (e) => {
    const data = e.data;
    if (e.source !== window.parent || !data) return;
    if (data.type === "look") document.documentElement.classList.toggle("projector", data.projector === true);
    if (data.type !== "draw") return;
    board.replaceChildren(GD.render(data.game, data.state, context(data.ctx || {})));
    board.dataset.version = String((Number(board.dataset.version) || 0) + 1);
  });
  GD.arrowKeys(board); // between the renderer's move targets, as on the page
  // A key the frame had no use for goes to the page (a key pressed in a frame stays in its
  // document): the replay's arrow keys and projector mode work after a click in the frame.
  window.addEventListener("keydown", (e) => {
    const t = e.target;
    if (e.defaultPrevented || e.altKey || e.ctrlKey || e.metaKey || !GD.PAGE_KEYS.has(e.key)
      || t instanceof HTMLInputElement || t instanceof HTMLTextAreaElement || t instanceof HTMLSelectElement
      || (t instanceof HTMLElement && t.isContentEditable)) return;
    send({ type: "key", key: e.key });
  });
  new ResizeObserver(() => send({ type: "height", height: document.documentElement.scrollHeight })).observe(document.body);
  window.addEventListener("load", () => send({ type: "ready" })); // after the author's script
})();
