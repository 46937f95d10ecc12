"""NumberRace: a complete, small example game and a tutorial for writing your own.

The rules: 2 to 4 players take turns. On your turn you add 1, 2 or 3 to a
counter that everybody shares and that starts at 0. Whoever makes the counter
reach exactly 21 wins.

Read this file from top to bottom: the comments marked "Step 1", "Step 2", ...
explain how a game for the server is built. To make your own game, copy this
file, rename the class (Step 1) and change the rules.

How to run it:

1. Put this file (or your copy of it) into a folder, for example ``mygames/``.
2. Start the server and tell it where your games are::

       python3 -m gameserver --games-dir mygames

3. Connect with the client module ``game_server_api.py``, for example::

       from game_server_api import GameServerAPI
       game = GameServerAPI(server="127.0.0.1", port=4711, game="NumberRace",
                            session="mygame", players=2)
       my_id = game.join()
       state = game.state()     # {"counter": 0, "winner": None, ...}
       game.move(add=3)         # the server calls NumberRace.move({"add": 3}, my_id)

   Start one client per player; the game begins when all have joined.
"""

# Step 1: import the base class and subclass it.
#
# Every game is a class that inherits from AbstractGame. The server finds your
# game by the name of the class: clients ask for game="NumberRace". When you
# copy this file, give your class a new name, for example "MyRace": the
# server already has a game called NumberRace built in, and every game needs
# a name of its own.
from gameserver.game import AbstractGame

# Step 2: name your numbers.
#
# Writing TARGET instead of 21 everywhere makes the code easier to read and
# the rules easier to change later.
TARGET = 21
ALLOWED = (1, 2, 3)
HISTORY_LENGTH = 5


class NumberRace(AbstractGame):
    """Take turns adding 1, 2 or 3 to a shared counter; reach 21 to win.

    Players: 2 to 4. Player 0 starts, then 1, 2, ... and back to 0.

    Move:
        ``{"add": 1, 2 or 3}`` (client: ``move(add=2)``). The counter may not
        go past 21.

    State:
        ``{"counter": int, "winner": id or null,
        "last_moves": [[player_id, amount], ...]}``; ``last_moves`` holds the
        last 5 moves, oldest first.

    Errors: ``add`` missing, not a whole number, not 1..3, or taking the
    counter past 21.
    """

    # Step 3: set up the game in __init__.
    #
    # The server calls __init__ when all players have joined, and passes the
    # number of players. Everything your game must remember goes into
    # attributes of self ("self.counter = 0"): that is the game's *state*.
    # The players have the ids 0, 1, 2, ... in the order they joined.
    #
    # "players: int" and "-> None" are type hints: they tell the reader (and
    # your editor) what types to expect. Python does not check them.
    def __init__(self, players: int) -> None:
        self.players = players
        self.counter = 0
        self.turn = 0  # the id of the player whose turn it is
        self.winner: int | None = None  # None means "nobody has won yet"
        self.last_moves: list[list[int]] = []  # [[player_id, amount], ...]

    # Step 4: say how many players your game needs.
    #
    # These two methods are "static": they belong to the class, not to one
    # game, because the server asks them before any game exists. They just
    # return a number.
    @staticmethod
    def min_players() -> int:
        return 2

    @staticmethod
    def max_players() -> int:
        return 4

    # Step 5: say whose turn it is.
    #
    # Return a list of the ids of the players who may move now. Here that is
    # one player, e.g. [1]. When the game is over, nobody may move: return an
    # empty list []. The server will answer "not your turn" to everybody else,
    # so move() below never sees a move from the wrong player.
    def current_player(self) -> list[int]:
        if self.game_over():
            return []
        return [self.turn]

    # Step 6: check and carry out a move.
    #
    # A client that calls game.move(add=2) makes the server call
    # move({"add": 2}, player_id). The dictionary comes straight from another
    # program, so check EVERYTHING before you use it: the key may be missing,
    # the value may be text, a list, or a huge number.
    #
    # What to return:
    #   - None when the move was fine and you have changed the state.
    #   - A string when the move is not allowed. The player gets it as an
    #     error, so say what was wrong AND what to send instead. Return the
    #     error BEFORE you change anything, so a bad move changes nothing.
    #     Return it, do not raise it: a bad move is part of the game, while an
    #     exception means your program has a bug.
    def move(self, move: dict, player_id: int) -> str | None:
        # 6a: is the key there?
        if "add" not in move:
            return "add missing: send move(add=1), move(add=2) or move(add=3)"
        amount = move["add"]

        # 6b: is it the right type? True and False count as numbers in
        # Python (True == 1), so they have to be excluded by hand.
        if type(amount) is not int:
            return "add must be a whole number: send move(add=1), move(add=2) or move(add=3)"

        # 6c: is the value allowed by the rules?
        if amount not in ALLOWED:
            return "you may only add 1, 2 or 3: send move(add=1), move(add=2) or move(add=3)"
        if self.counter + amount > TARGET:
            return (
                f"the counter is {self.counter}, adding {amount} would go past {TARGET}: "
                f"add at most {TARGET - self.counter}"
            )

        # Step 7: change the state. Only now, after every check has passed.
        self.counter = self.counter + amount
        self.last_moves.append([player_id, amount])
        self.last_moves = self.last_moves[-HISTORY_LENGTH:]  # keep the last 5

        # Step 8: end the game, or pass the turn on.
        #
        # Reaching the target ends the game: remember the winner. game_over()
        # and current_player() look at self.winner, so they change with it.
        # Otherwise it is the next player's turn; "% self.players" wraps
        # around from the last player back to player 0.
        if self.counter == TARGET:
            self.winner = player_id
        else:
            self.turn = (self.turn + 1) % self.players
        return None

    # Step 9: say whether the game is over.
    #
    # Return True or False. After True the server accepts no more moves.
    def game_over(self) -> bool:
        return self.winner is not None

    # Step 10: show the game to a player.
    #
    # Return a dict with what player_id may see. Use only dicts, lists,
    # strings, numbers, True/False and None, because it is sent as JSON.
    # In a card game you would leave out the other players' cards here (and
    # list them in private_data: gameserver/games/secret_code.py shows how).
    # The server adds "current" (whose turn) and "gameover" by itself.
    # Copy lists (list(...)) so nobody outside can change your game's state.
    def state(self, player_id: int) -> dict:
        return {
            "counter": self.counter,
            "winner": self.winner,
            "last_moves": [list(m) for m in self.last_moves],
        }

    # Step 11 (optional): list the moves a player may make now.
    #
    # You may leave this method out: the game works without it. If you write
    # it, return a list of move dicts, exactly as a client would send them.
    # Bots pick their moves from this list, clients can show it, and
    # "python3 -m gameserver check" tests that move() accepts every move in it.
    # Keep it exact: list every allowed move, and nothing that move() rejects.
    def legal_moves(self, player_id: int) -> list:
        if self.game_over():
            return []  # nobody may move any more
        # 1, 2 and 3, but only as far as the counter may still go.
        return [{"add": amount} for amount in ALLOWED if self.counter + amount <= TARGET]

    # Optional, for reinforcement learning (see AbstractGame and docs/rl.md):
    # every move there could ever be, and the state turned into numbers, so
    # that learning programs can play the game. Leave these out in your game
    # until you need them.
    rl_moves = [{"add": amount} for amount in ALLOWED]
    rl_observation_shape = (TARGET + 1,)

    @staticmethod
    def rl_observation(state: dict, player_id: int) -> list:
        # A 1 at the position of the counter, 0 everywhere else.
        return [int(state["counter"] == number) for number in range(TARGET + 1)]
