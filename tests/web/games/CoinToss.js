// The dashboard's renderer for CoinToss: a coin and the points (see docs/dashboard.md).
GameDashboard.register("CoinToss", function (state, ctx) {
  const h = ctx.h;
  return h("div", { class: "coin-toss" },
    h("p", { class: "coin", "data-coin": state.coin || "none", text: state.coin ? "The coin shows " + state.coin : "Not tossed yet" }),
    h("ul", {}, ...state.points.map((p, id) => h("li", {}, ctx.name(id) + ": " + p + " points"))));
});
