// The dashboard's renderer for CoinToss: a coin, the points and, on a player's page, a button
// per call (see docs/dashboard.md).
GameDashboard.register("CoinToss", function (state, ctx) {
  const h = ctx.h;
  const call = (side) => GameDashboard.click(ctx, h("button", { type: "button", id: side, text: "Call " + side }), { call: side });
  return h("div", { class: "coin-toss" },
    h("p", { class: "coin", "data-coin": state.coin || "none", text: state.coin ? "The coin shows " + state.coin : "Not tossed yet" }),
    h("ul", {}, ...state.points.map((p, id) => h("li", {}, ctx.name(id) + ": " + p + " points"))),
    ctx.clickable && !state.gameover ? h("p", {}, call("heads"), " ", call("tails")) : null);
});
