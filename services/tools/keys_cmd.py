"""`aurora keys`: the CurveZMQ keys that let agents, recorders and viewers on other hosts in (PROTOCOL.md 13).

    aurora keys server              the canvas's public key (made on first use): copy canvas.key to client hosts
    aurora keys create NAME         a client keypair, its public key authorized here (--dir, --no-authorize)
    aurora keys authorize FILE      let in the client whose public key someone sent (NAME.key)
    aurora keys revoke NAME         no longer let it in (from its next handshake)
    aurora keys list                the server key, the authorized keys, and what is missing
    aurora keys setup --dir DIR NAME...   the canvas's keypair, and per client DIR/NAME/ with its keypair and
                                    canvas.key, authorized; what is there is kept (compose's one-shot keys service)
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from services.base.curve import CurveError, fingerprint, load_key
from services.base.keys import Keys, give_to_owner_of, loose_permissions


def add_parser(sub) -> None:
    p = sub.add_parser("keys", help="CurveZMQ keys: the canvas's, and those of the clients it lets in",
                       description="Keys live in DATA/keys (AURORA_DATA, default ./data): canvas.key and its "
                                   "canvas.key_secret, authorized/ (the clients let in), clients/ (keypairs made "
                                   "here). Secret key files are 0600 and never leave their host.")
    cmds = p.add_subparsers(dest="keys_command", metavar="ACTION")
    cmds.add_parser("server", help="print the canvas's public key, making its keypair on first use")
    create = cmds.add_parser("create", help="make a client keypair NAME.key / NAME.key_secret")
    create.add_argument("name")
    create.add_argument("--dir", type=Path, default=None,
                        help="where the keypair goes (default DATA/keys/clients); on an agent's own host, say")
    create.add_argument("--exist-ok", action="store_true",
                        help="if NAME's keypair is there already, keep it (and authorize it unless --no-authorize): "
                             "for a setup that runs at every start")
    create.add_argument("--no-authorize", action="store_true",
                        help="do not authorize its public key on this host (made on the client's host: send NAME.key "
                             "to the canvas's operator for `aurora keys authorize`)")
    authorize = cmds.add_parser("authorize", help="let in the client whose public key (NAME.key) is in FILE")
    authorize.add_argument("file", type=Path)
    authorize.add_argument("--name", default=None, help="the name it is kept under (default: the file's)")
    revoke = cmds.add_parser("revoke", help="no longer let in the client authorized under NAME")
    revoke.add_argument("name")
    cmds.add_parser("list", help="the server key, the authorized keys, and what is missing")
    setup = cmds.add_parser(
        "setup", help="the canvas's keypair and, per client NAME, DIR/NAME/ with its keypair and canvas.key, "
                      "authorized; each made only if missing (run at every start: compose's keys service)",
        description="Makes the canvas's keypair in DATA/keys if it is missing; then for each NAME makes DIR/NAME/"
                    "NAME.key and NAME.key_secret if missing (else keeps them), authorizes NAME.key, and puts a copy "
                    "of the canvas's public key beside them as DIR/NAME/canvas.key. DIR/NAME/ then holds all that "
                    "NAME needs (--curve-server-key DIR/NAME/canvas.key --curve-key DIR/NAME/NAME.key_secret) and "
                    "nothing of anyone else's: mount it into NAME's container alone. Running it again changes "
                    "nothing, except a canvas.key copy that no longer matches. A NAME authorized with another key "
                    "is an error (`aurora keys revoke NAME` first). Run as root, it gives every file it wrote to "
                    "the owner of the data folder (the user the services run as).")
    setup.add_argument("--dir", type=Path, required=True, help="where each client's folder DIR/NAME goes")
    setup.add_argument("names", nargs="+", metavar="NAME", help="the clients: agents, recorders, viewers")
    p.set_defaults(run=run, keys_parser=p)


def run(args: argparse.Namespace) -> int:
    keys = Keys.studio()
    action = args.keys_command
    if action is None:
        args.keys_parser.print_help()
        return 2
    try:
        return ACTIONS[action](keys, args)
    except CurveError as exc:
        print(f"aurora keys {action}: {exc}")
        return 1


def _server(keys: Keys, args) -> int:
    made = not keys.server_secret.exists()
    public, _ = keys.server_key(create=True)
    if made:
        print(f"made the canvas's keypair: {keys.server_public} (public) and {keys.server_secret} (secret, 0600)")
    print(f"canvas key {fingerprint(public)}  {public.decode()}")
    print(f"give {keys.server_public} to every host whose agents or viewers connect (--curve-server-key)")
    return 0


def _create(keys: Keys, args) -> int:
    existed = (Path(args.dir or keys.clients) / f"{args.name}.key_secret").exists()
    public, secret = keys.create_client(args.name, args.dir, authorize=not args.no_authorize, exist_ok=args.exist_ok)
    key, _ = load_key(public, secret=False)
    print(f"{'kept' if existed else 'made'} {args.name}'s keypair, key {fingerprint(key)}: {public} (public) and "
          f"{secret} (secret, 0600: keep it on the host that runs {args.name})")
    if args.no_authorize:
        print(f"not authorized here: send {public} to the canvas's operator, who runs `aurora keys authorize FILE`")
    else:
        print(f"authorized on this host ({keys.authorized / (args.name + '.key')})")
    print(f"it connects with: --curve-server-key canvas.key (the canvas host's: `aurora keys server` there) "
          f"--curve-key {secret}")
    return 0


def _authorize(keys: Keys, args) -> int:
    target, new = keys.authorize(args.file, args.name)
    key, _ = load_key(target, secret=False)
    verb = "authorized" if new else "already authorized"
    print(f"{verb}: {target.stem}, key {fingerprint(key)} ({target}); a running canvas lets it in at its next "
          "handshake")
    return 0


def _revoke(keys: Keys, args) -> int:
    target = keys.revoke(args.name)
    print(f"revoked {args.name} ({target} removed): refused from its next handshake; a connection already open "
          "stays until it closes (restart the canvas to end it now)")
    return 0


def _list(keys: Keys, args) -> int:
    print(f"keys in {keys.root}")
    if keys.server_secret.exists():
        public, _ = load_key(keys.server_secret, secret=True)
        print(f"  canvas (server)  {fingerprint(public)}  {keys.server_public}")
        _loose(keys.server_secret)
    else:
        print("  canvas (server)  MISSING: `aurora keys server` makes it (a canvas bound off loopback needs it)")
    found, bad = keys.authorized_keys()
    print(f"authorized ({len(found)}):")
    for name, (public, path) in found.items():
        print(f"  {name:<16} {fingerprint(public)}  {path}")
    if not found:
        print("  none: every CurveZMQ client is refused (`aurora keys create NAME`, `aurora keys authorize FILE`)")
    for path, why in bad.items():
        print(f"  UNREADABLE {path}: {why}")
    made = sorted(keys.clients.glob("*.key")) if keys.clients.is_dir() else []
    if made:
        known = {public for public, _ in found.values()}
        print(f"keypairs made here ({keys.clients}):")
        for path in made:
            public, _ = load_key(path, secret=False)
            secret = path.with_name(path.name + "_secret")
            state = "authorized" if public in known else f"NOT authorized (`aurora keys authorize {path}`)"
            if not secret.exists():
                state += "; its secret key is not here"
            else:
                _loose(secret)
            print(f"  {path.stem:<16} {fingerprint(public)}  {state}")
    return 0


def _setup(keys: Keys, args) -> int:
    made = not keys.server_secret.exists()
    public, _ = keys.server_key(create=True)
    print(f"canvas key {fingerprint(public)} {'made' if made else 'kept'}: {keys.server_public}")
    folders = []
    for name in args.names:
        folder, new, authorized = keys.give_client(name, args.dir)
        key, _ = load_key(folder / f"{name}.key", secret=False)
        folders.append(folder)
        print(f"{name}: keypair {fingerprint(key)} {'made' if new else 'kept'}, "
              f"{'authorized' if authorized else 'already authorized'}; {folder}/ holds {name}.key, "
              f"{name}.key_secret (0600) and canvas.key, for {name} alone")
    if os.geteuid() == 0:  # compose's keys service: the files go to the user the services run as
        give_to_owner_of(keys.root.parent, keys.root, *folders)
    return 0


def _loose(secret: Path) -> None:
    if loose_permissions(secret):
        print(f"  WARNING: {secret} can be read by other users: chmod 600 {secret}")


ACTIONS = {"server": _server, "create": _create, "authorize": _authorize, "revoke": _revoke, "list": _list,
           "setup": _setup}
