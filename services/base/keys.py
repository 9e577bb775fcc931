"""The studio's CurveZMQ keys, as zmq.auth certificate files under DATA/keys/ (PROTOCOL.md section 13):

    canvas.key, canvas.key_secret      the canvas's keypair: canvas.key goes to every host whose clients connect
    authorized/NAME.key                the public keys of the clients the canvas lets in (agents, recorders,
                                       viewers); its ZAP handler reads the folder again whenever it changes
    clients/NAME.key, NAME.key_secret  keypairs `aurora keys create` made on this host
    hello.secret                       0600: what the proof in a plaintext hello is made from (hello_proof)

and, outside it, the folders `aurora keys setup --dir DIR` fills, one per client, each for that client alone:

    DIR/NAME/NAME.key, NAME.key_secret, canvas.key   its keypair and a copy of the canvas's public key

Secret key files are 0600. Every file is written in a private folder and renamed into place, so no reader (the
canvas's ZAP handler) ever sees half a key, and no other user ever sees a secret.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import os
import re
import secrets
import shutil
import stat
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import zmq.auth

from services.base.curve import KEY_ENV, SERVER_KEY_ENV, CurveError, load_key
from services.base.datadir import data_dir

SERVER = "canvas"
# The key `aurora up` makes for the studio's own processes on the canvas's host (local_client): the one key that
# may say hello as any agent. Every other key may speak only for the agent it is authorized as (PROTOCOL.md 13).
STUDIO = "studio"
# The one key the record socket takes (PROTOCOL.md section 13); it joins no other socket.
RECORDER = "recorder"
# A plaintext hello's proof that the studio lets the agent use its name (PROTOCOL.md section 13): given to each
# agent by `aurora up` in this variable, else made by the client from hello.secret where it can read it.
PROOF_ENV = "AURORA_HELLO_PROOF"
HELLO_SECRET = "hello.secret"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


@dataclass(frozen=True)
class Keys:
    root: Path

    @classmethod
    def studio(cls) -> "Keys":
        """The studio's keys: DATA/keys (AURORA_DATA, else ./data)."""
        return cls(data_dir(create=False) / "keys")

    @property
    def server_public(self) -> Path:
        return self.root / f"{SERVER}.key"

    @property
    def server_secret(self) -> Path:
        return self.root / f"{SERVER}.key_secret"

    @property
    def authorized(self) -> Path:
        return self.root / "authorized"

    @property
    def clients(self) -> Path:
        return self.root / "clients"

    def server_key(self, *, create: bool) -> tuple[bytes, bytes]:
        """The canvas's (public, secret) keys, made first if `create`; else CurveError when there are none."""
        if not self.server_secret.exists():
            if not create:
                raise CurveError(f"there is no canvas key in {self.root}: run `aurora keys server` to make it, and "
                                 "`aurora keys create NAME` for each agent, recorder or viewer that connects")
            write_keypair(self.root, SERVER)
        public, secret = load_key(self.server_secret, secret=True)
        return public, secret

    def create_client(self, name: str, directory: Path | None = None, *, authorize: bool = True,
                      exist_ok: bool = False) -> tuple[Path, Path]:
        """A new keypair NAME.key / NAME.key_secret in `directory` (default clients/), its public key authorized
        here unless told not to. An existing keypair is never overwritten: it is an error, or with `exist_ok`
        the one kept (for a setup that runs at every start)."""
        directory = Path(directory or self.clients)
        public, secret = directory / f"{check_name(name)}.key", directory / f"{name}.key_secret"
        if exist_ok and public.exists() and secret.exists():
            load_key(secret, secret=True)  # CurveError if it is not a usable keypair
        else:
            write_keypair(directory, name)
        if authorize:
            self.authorize(public, name)
        return public, secret

    def authorize(self, key_file: Path, name: str | None = None) -> tuple[Path, bool]:
        """Let the client whose public key is in `key_file` in (only the public key is kept, whatever the file
        holds); returns (its file under authorized/, whether it is new). A name taken by another key is refused."""
        name = check_name(name or Path(key_file).name.split(".")[0])
        public, _ = load_key(key_file, secret=False)
        target = self.authorized / f"{name}.key"
        if target.exists():
            if load_key(target, secret=False)[0] == public:
                return target, False
            raise CurveError(f"{target} holds another key: `aurora keys revoke {name}` first, or authorize this one "
                             "under another name (--name)")
        _write_private(target, _public_certificate(public, name), mode=0o644)
        return target, True

    def local_client(self, name: str = STUDIO) -> dict[str, str]:
        """The environment (AURORA_CURVE_SERVER_KEY, AURORA_CURVE_KEY) that lets this host's own services talk
        CurveZMQ to its canvas: the canvas's keypair and clients/NAME, each made (and NAME authorized) if missing.
        For a supervisor whose canvas binds off loopback or runs with --curve, and for the record socket, which
        takes only CurveZMQ: the canvas, the recorder and `aurora up` may each be first, so it is made under a lock."""
        with self._locked():
            self.server_key(create=True)
            _, secret = self.create_client(name, exist_ok=True)
        return {SERVER_KEY_ENV: str(self.server_public), KEY_ENV: str(secret)}

    def server_key_made(self) -> tuple[bytes, bytes]:
        """The canvas's keypair, made if missing (under the same lock as local_client)."""
        with self._locked():
            return self.server_key(create=True)

    def hello_secret(self) -> bytes:
        """The secret plaintext hellos' proofs are made from, made if missing (0600, in a 0700 folder)."""
        path = self.root / HELLO_SECRET
        if not path.exists():
            with self._locked():
                if not path.exists():
                    _write_private(path, secrets.token_hex(32), mode=0o600)
        return path.read_bytes().strip()

    def hello_proof(self, agent: str) -> str | None:
        """The proof a plaintext hello as `agent` carries; None where the secret cannot be read or made (another
        user's studio): the canvas then refuses the hello, saying what to do."""
        try:
            return hello_proof(self.hello_secret(), agent)
        except OSError:
            return None

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.root / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def give_client(self, name: str, directory: Path) -> tuple[Path, bool, bool]:
        """Everything client NAME needs, alone in `directory`/NAME/: its keypair NAME.key / NAME.key_secret (made
        if missing, else kept) and canvas.key, the canvas's public key (written again if it has changed); its
        public key authorized here. Nothing else goes there, so that folder can be given to NAME alone (compose
        mounts it into NAME's container only). Returns (the folder, whether the keypair is new, whether its
        authorization is). CurveError without the canvas's keypair, or when NAME is authorized with another key."""
        if check_name(name) == SERVER:
            raise CurveError(f"a client cannot be called {SERVER!r}: its {SERVER}.key would be the canvas's")
        folder = Path(directory) / name
        server = self.server_public.read_text() if self.server_secret.exists() else None
        if server is None:
            raise CurveError(f"there is no canvas key in {self.root} to give {name}: `aurora keys server` first")
        made = not (folder / f"{name}.key_secret").exists()
        public, _ = self.create_client(name, folder, authorize=False, exist_ok=True)
        _, authorized = self.authorize(public, name)
        copy = folder / f"{SERVER}.key"
        if not copy.exists() or copy.read_text() != server:
            _write_private(copy, server, mode=0o644)
        return folder, made, authorized

    def revoke(self, name: str) -> Path:
        target = self.authorized / f"{check_name(name)}.key"
        if not target.exists():
            raise CurveError(f"no key is authorized under the name {name!r} (`aurora keys list`)")
        target.unlink()
        return target

    def authorized_keys(self) -> tuple[dict[str, tuple[bytes, Path]], dict[Path, str]]:
        """({name: (public key, file)}, {file: why it cannot be read}) of authorized/."""
        found, bad = {}, {}
        for path in sorted(self.authorized.glob("*.key")) if self.authorized.is_dir() else ():
            try:
                found[path.stem] = (load_key(path, secret=False)[0], path)
            except CurveError as exc:
                bad[path] = str(exc)
        return found, bad


def hello_proof(secret: bytes, agent: str) -> str:
    """HMAC-SHA256 of the agent's name under the studio's hello secret, in hex."""
    return hmac.new(secret, f"aurora hello {agent}".encode(), hashlib.sha256).hexdigest()


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise CurveError(f"not a key name: {name!r} (1-64 of letters, digits, `_`, `.`, `-`, starting with a letter "
                         "or digit)")
    return name


def write_keypair(directory: Path, name: str) -> tuple[Path, Path]:
    """NAME.key (0644) and NAME.key_secret (0600) in `directory`, made in a private folder and renamed in."""
    directory = Path(directory)
    public, secret = directory / f"{name}.key", directory / f"{name}.key_secret"
    if public.exists() or secret.exists():
        raise CurveError(f"{name}'s keys already exist in {directory}: a secret key is never overwritten")
    directory.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=directory, prefix=".new-"))  # 0700: no one else sees inside
    try:
        made_public, made_secret = (Path(p) for p in zmq.auth.create_certificates(scratch, name, {"name": name}))
        made_secret.chmod(0o600)
        made_public.chmod(0o644)
        os.replace(made_secret, secret)
        os.replace(made_public, public)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return public, secret


def give_to_owner_of(reference: Path, *trees: Path) -> None:
    """Every file and folder in `trees` (each tree too) to the user and group that own `reference`. For a setup
    run as root: compose's keys service, whose new volumes Docker makes root's, gives the keys to the user the
    services run as (the owner of the data folder)."""
    owner = Path(reference).stat()
    for tree in trees:
        for path in (tree, *sorted(Path(tree).rglob("*"))):
            os.chown(path, owner.st_uid, owner.st_gid, follow_symlinks=False)


def loose_permissions(path: Path) -> bool:
    """A secret key file that users other than its owner may read."""
    return bool(path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO))


def _public_certificate(public: bytes, name: str) -> str:
    return ("#   ZeroMQ CURVE Public Certificate, authorized by `aurora keys`\n"
            "metadata\n"
            f"    name = \"{name}\"\n"
            "curve\n"
            f"    public-key = \"{public.decode('ascii')}\"\n")


def _write_private(target: Path, text: str, mode: int) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".new-")  # 0600 from the start
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
