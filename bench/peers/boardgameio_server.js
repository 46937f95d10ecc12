"use strict";
// boardgame.io 0.50 server (socket.io transport, in-memory storage) for bench/peers.py.
// Usage: node boardgameio_server.js PORT
const { Server } = require("boardgame.io/server");
const { TicTacToe } = require("./boardgameio_game.js");

const port = Number(process.argv[2]);
const server = Server({ games: [TicTacToe], origins: [/127\.0\.0\.1:\d+/, /localhost:\d+/] });
server.run({ port }, () => console.log(`listening on 127.0.0.1:${port}`));
