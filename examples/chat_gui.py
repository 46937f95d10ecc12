"""Chat in a window: the messages above, a line to type in below.

Start the server (python3 -m gameserver), then one window per person, each
with its own name:

    python3 examples/chat_gui.py --name alice
    python3 examples/chat_gui.py --name bob

The chat begins when all --players (default 2) have joined; the terminal
says when the program waits for the others. Type a message, press Enter.
With --players 1 you can try it alone.

A chat must do two things at once: wait for your typing and wait for the
others' messages. The terminal version needs two programs for that
(chat_input.py and chat_output.py); the classic version uses a thread. A
window does it more simply: tkinter calls ``send`` when you press Enter, and
a timer calls ``check_for_news`` ten times a second, which asks
``api.poll()`` for news. The server sends each new state as it happens;
poll() returns one that has arrived, else None, and never waits, so the
window keeps reacting while you type.
"""

import argparse
import os
import sys

try:
    import tkinter as tk
except ImportError:  # Debian and Ubuntu ship tkinter separately
    sys.exit('This program needs tkinter. On Debian or Ubuntu: sudo apt install python3-tk')

# Students keep game_server_api.py next to their script; here it is one folder up.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from game_server_api import GameServerAPI, GameServerError, IllegalMove  # noqa: E402

CHECK_EVERY = 100  # milliseconds between two looks for new messages


class ChatWindow:
    """The messages in a text box, and an entry line that sends on Enter."""

    def __init__(self, root, api, name, session):
        self.root = root
        self.api = api
        self.shown = 0  # how many messages are in the text box already
        root.title(f'Chat {session!r}: {name}')
        self.messages = tk.Text(root, width=50, height=15, wrap='word', state='disabled')
        self.messages.pack(fill='both', expand=True)
        self.entry = tk.Entry(root)
        self.entry.pack(fill='x')
        self.entry.bind('<Return>', self.send)
        self.entry.focus_set()
        self.prompt = f'{name}, type a message and press Enter.'
        self.status = tk.Label(root, text=self.prompt, anchor='w')
        self.status.pack(fill='x')
        self.check_for_news()

    def send(self, event=None):
        """Enter was pressed: send the typed line and empty the entry."""
        text = self.entry.get()
        try:
            self.api.move(message=text)  # it comes back with the next poll()
        except (IllegalMove, GameServerError) as error:
            self.status.config(text=f'Not sent: {error}')
            return
        self.entry.delete(0, 'end')
        self.status.config(text=self.prompt)

    def check_for_news(self):
        """Show new messages if the server has sent some; look again in a moment."""
        try:
            state = self.api.poll()
            while state is not None:  # every state that came since the last look
                self.show(state['messages'][self.shown:])
                self.shown = len(state['messages'])
                state = self.api.poll()
        except GameServerError as error:
            self.status.config(text=f'Error: {error}')
            self.root.after(10 * CHECK_EVERY, self.check_for_news)  # try again, calmly
            return
        self.root.after(CHECK_EVERY, self.check_for_news)

    def show(self, messages):
        """Add messages at the end of the text box and scroll to them."""
        self.messages.config(state='normal')  # a disabled Text cannot be changed, even by us
        for sender, text in messages:
            self.messages.insert('end', f'{sender}: {text}\n')
        self.messages.config(state='disabled')
        self.messages.see('end')


def join_chat(api, name):
    """Join (waits until everybody is there) and tell the Chat game our name."""
    api.join()
    api.move(name=name)


def open_window():
    """The main window, or a clear message if there is no screen to show it on."""
    try:
        return tk.Tk()
    except tk.TclError as error:  # e.g. on a server without a screen
        sys.exit(f'Cannot open a window: {error}')


def main():
    parser = argparse.ArgumentParser(description='Chat in a window.')
    parser.add_argument('--host', default='127.0.0.1', help='server address')
    parser.add_argument('--port', type=int, default=4711, help='server port')
    parser.add_argument('--session', default='chat', help='chat session name')
    parser.add_argument('--players', type=int, default=2, help='number of people in the chat')
    parser.add_argument('--name', help='your name (asked for if not given)')
    args = parser.parse_args()
    name = args.name or input('Your name: ').strip()
    if not name:
        parser.error('a name is needed: the others see it with your messages')

    root = open_window()
    root.withdraw()  # hidden until the chat begins: a window must not wait in join()
    # The name is given twice: to the session (so others may observe us)
    # and to the Chat game (so it can show who wrote what).
    api = GameServerAPI(args.host, args.port, 'Chat', session=args.session,
                        players=args.players, name=name)
    print(f'Waiting until all {args.players} people have joined chat {args.session!r} ...',
          flush=True)
    join_chat(api, name)
    print('The chat begins.', flush=True)
    ChatWindow(root, api, name, args.session)
    root.deiconify()
    root.mainloop()  # runs until the window is closed
    api.close()


if __name__ == '__main__':
    try:
        main()
    except GameServerError as error:
        sys.exit(f'Error: {error}')
    except (EOFError, KeyboardInterrupt):
        sys.exit('\nBye!')
