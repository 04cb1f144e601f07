#!/bin/sh
# NeuroShard agent installer: one line on a Raspberry Pi or a home GPU rig.
#
#   curl -fsSL https://INSTALL_SH_URL/install.sh | sh
#   curl -fsSL https://INSTALL_SH_URL/install.sh | sh -s -- --service
#
# Nothing runs until the last line calls `main`, so a half-downloaded script
# does nothing. Run it twice and the second run upgrades in place; your node's
# identity, checkpoints and ledger live in the state directory, which this
# script never touches except with --uninstall --purge. Options and the
# environment variables it reads (tests inject hardware through them): usage().
set -eu

PACKAGE=neuroshard-agent
UNIT_NAME=neuroshard.service
SERVICE_USER=neuroshard
SYSTEM_STATE_DIR=/var/lib/neuroshard
TORCH_CPU_INDEX=https://download.pytorch.org/whl/cpu
# Rough installed sizes plus download room; a check, not a promise.
NEED_MB_EDGE=600
NEED_MB_TORCH_CPU=2500
NEED_MB_TORCH_CUDA=9000

usage() {
	cat <<'EOF'
NeuroShard agent installer

usage: install.sh [options]

  --from DIR          install from a local checkout instead of PyPI
  --with-torch-cpu    also install CPU-only PyTorch (from PyTorch's CPU index)
  --edge              never install PyTorch, even with an NVIDIA GPU
  --torch-index URL   take PyTorch from this index (e.g. .../whl/cu126)
  --no-dashboard      leave out the terminal dashboard (textual)
  --service           run the agent as a systemd user service (enabled, started)
  --no-service        remove the user service a previous run installed
  --system            install for the whole machine: /opt venv, a dedicated
                      user and a system service (uses sudo when not root)
  --uninstall         remove what this script installed; keeps the state dir
  --purge             with --uninstall: also delete the state dir (identity,
                      checkpoints, ledger), after saying what will be lost
  --dry-run           print every step without doing it
  --unattended, -y    ask nothing (CI, provisioning scripts)
  --print-unit KIND   print the systemd unit (user or system) and exit
  -h, --help          this text

environment (none is needed normally):
  NEUROSHARD_PYTHON        the Python >= 3.11 to build the venv from
  NEUROSHARD_INSTALLER     uv | pip (default: uv when on PATH, else pip)
  NEUROSHARD_PIP_ARGS      extra arguments for every pip / uv pip install,
                           split on spaces (e.g. "--index-url URL" for a mirror)
  NEUROSHARD_SYSTEM_PREFIX where --system installs (default /opt/neuroshard)
  NEUROSHARD_STATE_DIR     the agent's state dir (the agent honours it too)
for tests, pretending hardware this machine does not have:
  NEUROSHARD_TEST_OS       as if `uname -s` printed this (Linux, Darwin)
  NEUROSHARD_TEST_ARCH     as if `uname -m` printed this (x86_64, aarch64, armv7l)
  NEUROSHARD_TEST_GPU      1: as if an NVIDIA GPU were present; 0: as if none
  NEUROSHARD_TEST_FREE_MB  as if this much disk were free, MB
EOF
}

say() { printf '%s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
	DIED=1
	printf 'error: %s\n' "$*" >&2
	exit 1
}

# Every action goes through `step`: printed first, skipped in --dry-run.
step() {
	CURRENT_STEP="$*"
	if [ "$NEED_SUDO" = 1 ]; then
		printf '+ sudo %s\n' "$*"
		[ "$DRY_RUN" = 1 ] || sudo "$@"
	else
		printf '+ %s\n' "$*"
		[ "$DRY_RUN" = 1 ] || "$@"
	fi
}

# Files are rendered into the temp dir, shown in --dry-run, then copied.
put_file() { # put_file SOURCE DEST MODE
	if [ "$DRY_RUN" = 1 ]; then
		say "  (would write $2:)"
		sed 's/^/  | /' "$1"
	fi
	step cp "$1" "$2"
	step chmod "$3" "$2"
}

on_exit() {
	exit_status=$?
	[ -z "$TMPD" ] || rm -rf "$TMPD"
	if [ "$exit_status" != 0 ] && [ "$DIED" = 0 ] && [ -n "$CURRENT_STEP" ]; then
		printf 'error: this step failed (exit %s): %s\n' "$exit_status" "$CURRENT_STEP" >&2
		printf 'Nothing you had is lost. Fix the cause shown above and run the installer again.\n' >&2
	fi
}

can_ask() { [ "$UNATTENDED" = 0 ] && [ "$DRY_RUN" = 0 ] && (: </dev/tty) 2>/dev/null; }

ask_yes() { # ask_yes QUESTION DEFAULT(y|n) -> status 0 for yes
	printf '%s ' "$1" >/dev/tty
	read -r answer </dev/tty || answer=""
	[ -n "$answer" ] || answer=$2
	case $answer in [Yy]*) return 0 ;; *) return 1 ;; esac
}

parse_args() {
	while [ $# -gt 0 ]; do
		case $1 in
		--from) [ $# -ge 2 ] || die "--from needs a directory"; FROM_DIR=$2; shift ;;
		--from=*) FROM_DIR=${1#--from=} ;;
		--with-torch-cpu) TORCH_FLAG=cpu ;;
		--edge) TORCH_FLAG=none ;;
		--torch-index) [ $# -ge 2 ] || die "--torch-index needs a URL"; TORCH_INDEX=$2; shift ;;
		--torch-index=*) TORCH_INDEX=${1#--torch-index=} ;;
		--no-dashboard) DASHBOARD=0 ;;
		--service) SERVICE_FLAG=user ;;
		--no-service) SERVICE_FLAG=none ;;
		--system) SYSTEM=1 ;;
		--uninstall) ACTION=uninstall ;;
		--purge) ACTION=uninstall; PURGE=1 ;;
		--dry-run) DRY_RUN=1 ;;
		--unattended | --yes | -y) UNATTENDED=1 ;;
		--print-unit) [ $# -ge 2 ] || die "--print-unit needs user or system"; ACTION=print-unit; UNIT_KIND=$2; shift ;;
		-h | --help) usage; exit 0 ;;
		*) die "unknown option '$1' (see --help)" ;;
		esac
		shift
	done
	if [ -n "$FROM_DIR" ]; then
		[ -f "$FROM_DIR/pyproject.toml" ] || die "--from $FROM_DIR: no pyproject.toml there; give the root of a NeuroShard checkout"
		FROM_DIR=$(cd "$FROM_DIR" && pwd)
	fi
	if [ "$SYSTEM" = 1 ] && [ "$SERVICE_FLAG" = none ]; then
		die "--system installs a system service; --no-service contradicts it (use --uninstall --system to remove it)"
	fi
}

detect_platform() {
	OS=${NEUROSHARD_TEST_OS:-$(uname -s)}
	RAW_ARCH=${NEUROSHARD_TEST_ARCH:-$(uname -m)}
	OS_ID=unknown
	OS_NAME=$OS
	if [ "$OS" = Linux ] && [ -r /etc/os-release ]; then
		OS_ID=$(sed -n 's/^ID=//p' /etc/os-release | tr -d '"')
		OS_NAME=$(sed -n 's/^PRETTY_NAME=//p' /etc/os-release | tr -d '"')
	fi
	case $OS in
	Linux) ;;
	Darwin) OS_ID=macos; OS_NAME="macOS" ;;
	*) die "$OS is not supported: the agent runs on Linux (and macOS without the service). On Windows use WSL2 with Ubuntu." ;;
	esac
	case $RAW_ARCH in
	x86_64 | amd64) ARCH=x86_64 ;;
	aarch64 | arm64) ARCH=aarch64 ;;
	armv6* | armv7* | armv8l | armhf | arm)
		die "this is a 32-bit ARM system ($RAW_ARCH). ONNX Runtime publishes no 32-bit ARM wheels, so the agent cannot run here.
  On a Raspberry Pi 3, 4, 5 or Zero 2 W, install Raspberry Pi OS (64-bit) (Raspberry Pi Imager: 'Raspberry Pi OS (64-bit)'),
  or Ubuntu Server 24.04 LTS (64-bit, arm64), then run this installer again. A Pi Zero or Pi 1 (ARMv6) cannot run a 64-bit OS." ;;
	*) die "CPU architecture $RAW_ARCH is not supported: ONNX Runtime ships wheels for x86_64 and aarch64 (arm64) only." ;;
	esac
}

set_paths() {
	[ -n "${HOME:-}" ] || die "HOME is not set; the installer needs it to find your data directory"
	if [ "$SYSTEM" = 1 ]; then
		INSTALL_DIR=${NEUROSHARD_SYSTEM_PREFIX:-/opt/neuroshard}
		BIN_DIR=/usr/local/bin
		STATE_DIR=$SYSTEM_STATE_DIR
		UNIT_DIR=/etc/systemd/system
		[ "$(id -u)" = 0 ] || NEED_SUDO_FOR_SYSTEM=1
	else
		# Same place as platformdirs.user_data_dir("neuroshard"), which the agent uses.
		if [ "$OS" = Darwin ]; then
			DATA_HOME="$HOME/Library/Application Support"
		else
			DATA_HOME=${XDG_DATA_HOME:-}
			[ -n "$DATA_HOME" ] || DATA_HOME="$HOME/.local/share"
		fi
		INSTALL_DIR="$DATA_HOME/neuroshard-agent"
		BIN_DIR="$HOME/.local/bin"
		STATE_DIR=${NEUROSHARD_STATE_DIR:-"$DATA_HOME/neuroshard"}
		UNIT_DIR=${XDG_CONFIG_HOME:-"$HOME/.config"}/systemd/user
	fi
	VENV="$INSTALL_DIR/venv"
	RECEIPT="$INSTALL_DIR/receipt.txt"
	LINK="$BIN_DIR/neuroshard"
	UNIT_PATH="$UNIT_DIR/$UNIT_NAME"
}

receipt_get() { # receipt_get KEY -> value on stdout (first match), empty if none
	[ -f "$RECEIPT" ] || return 0
	sed -n "s/^$1=//p" "$RECEIPT" | head -n 1
}

# Unit files: a path in ExecStart is quoted and % (a specifier) doubled. systemd expands
# $ in arguments but not in the command, so no single escape works for both: refused.
unit_path() {
	case $1 in *\"* | *\\* | *\$*) die "cannot write a systemd unit for a path with quotes, backslashes or \$: $1" ;; esac
	printf '"%s"' "$1" | sed -e 's/%/%%/g'
}

render_unit() { # render_unit user|system
	exec_path=$(unit_path "$VENV/bin/neuroshard")
	state_path=$(unit_path "$STATE_DIR")
	if [ "$1" = system ]; then
		cat <<EOF
# NeuroShard agent, system service. Written by install.sh --system; rerunning it rewrites this file.
[Unit]
Description=NeuroShard agent (volunteer node of the NeuroLLM network)
Wants=network-online.target
After=network-online.target

[Service]
Type=exec
User=$SERVICE_USER
Group=$SERVICE_USER
ExecStart=$exec_path run --headless --state-dir $SYSTEM_STATE_DIR --log-format plain
StateDirectory=neuroshard
StateDirectoryMode=0700
WorkingDirectory=$SYSTEM_STATE_DIR
Environment=HOME=$SYSTEM_STATE_DIR PYTHONUNBUFFERED=1
EOF
	else
		cat <<EOF
# NeuroShard agent, systemd user service. Written by install.sh --service; rerunning it rewrites this file.
[Unit]
Description=NeuroShard agent (volunteer node of the NeuroLLM network)

[Service]
Type=exec
# The state dir is spelled out: the user manager does not see your shell's XDG_DATA_HOME.
ExecStart=$exec_path run --headless --state-dir $state_path --log-format plain
Environment=PYTHONUNBUFFERED=1
EOF
	fi
	cat <<'EOF'
# SIGTERM is the agent's Ctrl-C: it finishes the step, saves and exits 0.
# Only the main process gets it (mixed), so it can stop its own workers;
# a slow SD card may need a while to write the checkpoint.
KillSignal=SIGTERM
KillMode=mixed
TimeoutStopSec=120
Restart=always
RestartSec=10
# A volunteer agent yields the CPU to whatever else the owner runs.
Nice=10
StandardOutput=journal
StandardError=journal
SyslogIdentifier=neuroshard
EOF
	if [ "$1" = system ]; then
		cat <<'EOF'
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
ProtectKernelTunables=yes
ProtectControlGroups=yes
RestrictSUIDSGID=yes
LockPersonality=yes

[Install]
WantedBy=multi-user.target
EOF
	else
		printf '\n[Install]\nWantedBy=default.target\n'
	fi
}

python_hint() {
	case $OS_ID in
	debian | raspbian | ubuntu | linuxmint | pop)
		say "sudo apt-get install python3 python3-venv   (Debian 12, Raspberry Pi OS bookworm and Ubuntu 24.04 ship 3.11+; on Ubuntu 22.04: sudo apt-get install python3.11 python3.11-venv)" ;;
	fedora | rhel | centos | rocky | almalinux) say "sudo dnf install python3.11" ;;
	arch | manjaro | endeavouros) say "sudo pacman -S python" ;;
	opensuse*) say "sudo zypper install python311" ;;
	macos) say "brew install python@3.12" ;;
	*) say "Python 3.11 or newer from your distribution" ;;
	esac
}

# Sets PY (real interpreter path) and PY_VERSION, or leaves PY empty.
find_python() {
	PY=""
	found=""
	# Names on PATH first; a broken shim (pyenv without its HOME) falls through to the system's.
	candidates="python3 python3.13 python3.12 python3.11 /usr/bin/python3 /usr/local/bin/python3"
	# A system service runs as its own user, who cannot reach a Python under /root or /home.
	[ "$SYSTEM" = 0 ] || candidates="/usr/bin/python3 /usr/local/bin/python3 $candidates"
	[ -z "${NEUROSHARD_PYTHON:-}" ] || candidates=$NEUROSHARD_PYTHON
	for candidate in $candidates; do
		command -v "$candidate" >/dev/null 2>&1 || continue
		probe=$("$candidate" -c 'import sys; print(sys.version_info[0], sys.version_info[1], int(sys.maxsize > 2**32), getattr(sys, "_base_executable", sys.executable))' 2>/dev/null) || continue
		read -r major minor is_64bit executable <<EOF
$probe
EOF
		if [ "$is_64bit" != 1 ]; then
			die "$candidate is a 32-bit Python ($executable): this system runs a 32-bit userland, and ONNX Runtime has no 32-bit ARM wheels.
  Install Raspberry Pi OS (64-bit) or another 64-bit OS, then run this installer again."
		fi
		if [ "$major" -lt 3 ] || { [ "$major" = 3 ] && [ "$minor" -lt 11 ]; }; then
			found="$found $candidate=$major.$minor"
			continue
		fi
		if [ "$SYSTEM" = 1 ]; then
			case $executable in /root/* | /home/*) found="$found $executable(in a home dir)"; continue ;; esac
		fi
		PY=$executable
		PY_VERSION=$major.$minor
		return 0
	done
	[ -n "$found" ] || found=" none"
	PY_PROBLEM="needs Python 3.11 or newer (found:$found)"
	# The service user cannot read /root or /home, so a pyenv or home-built Python will not do.
	[ "$SYSTEM" = 0 ] || PY_PROBLEM="--system needs Python 3.11 or newer outside /root and /home (found:$found)"
}

choose_installer() {
	UV=""
	case ${NEUROSHARD_INSTALLER:-auto} in
	auto) UV=$(command -v uv 2>/dev/null || true) ;;
	uv) UV=$(command -v uv 2>/dev/null) || die "NEUROSHARD_INSTALLER=uv but uv is not on PATH" ;;
	pip) ;;
	*) die "NEUROSHARD_INSTALLER must be uv or pip, got '$NEUROSHARD_INSTALLER'" ;;
	esac
	if [ -z "$PY" ] && [ -n "$UV" ]; then
		PY_VERSION="3.12 (uv-managed, downloaded by uv)"
		return 0
	fi
	if [ -z "$PY" ]; then
		die "NeuroShard $PY_PROBLEM. Install one:
  $(python_hint)
  or install uv (https://docs.astral.sh/uv/) and rerun: the installer then lets uv fetch a Python."
	fi
	if [ -z "$UV" ] && ! "$PY" -c 'import venv, ensurepip' >/dev/null 2>&1; then
		die "$PY cannot make virtual environments (the venv/ensurepip module is missing). Install it:
  $(python_hint)"
	fi
}

detect_gpu() {
	GPU_NAME=""
	case ${NEUROSHARD_TEST_GPU:-} in
	1) GPU_NAME="NVIDIA GPU (NEUROSHARD_TEST_GPU=1)" ;;
	0) ;;
	"")
		if command -v nvidia-smi >/dev/null 2>&1; then
			GPU_NAME=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1 || true)
			[ -n "$GPU_NAME" ] || warn "nvidia-smi is installed but lists no GPU (driver not loaded?): installing the edge agent"
		fi ;;
	*) die "NEUROSHARD_TEST_GPU must be 0 or 1, got '$NEUROSHARD_TEST_GPU'" ;;
	esac
}

choose_extras() {
	if [ -n "$TORCH_FLAG" ]; then
		TORCH=$TORCH_FLAG
	elif [ "$(receipt_get torch)" = cpu ]; then
		TORCH=cpu # an explicit earlier --with-torch-cpu sticks across upgrades
	elif [ -n "$GPU_NAME" ]; then
		TORCH=cuda
	else
		TORCH=none
	fi
	case $TORCH in
	none) EXTRAS=""; KIND="edge: ONNX Runtime only, no PyTorch"; NEED_MB=$NEED_MB_EDGE ;;
	cpu) EXTRAS=train; KIND="ONNX Runtime + CPU-only PyTorch"; NEED_MB=$NEED_MB_TORCH_CPU
		[ -n "$TORCH_INDEX" ] || TORCH_INDEX=$TORCH_CPU_INDEX ;;
	cuda) EXTRAS=gpu; KIND="GPU: PyTorch with CUDA + ONNX Runtime"; NEED_MB=$NEED_MB_TORCH_CUDA ;;
	esac
	if [ "$DASHBOARD" = 1 ]; then EXTRAS=${EXTRAS:+$EXTRAS,}dashboard; fi
	if [ -n "$FROM_DIR" ]; then REQUIREMENT=$FROM_DIR; else REQUIREMENT=$PACKAGE; fi
	[ -z "$EXTRAS" ] || REQUIREMENT="${REQUIREMENT}[${EXTRAS}]"
}

check_disk() {
	existing=$INSTALL_DIR
	while [ ! -d "$existing" ]; do existing=$(dirname "$existing"); done
	FREE_MB=${NEUROSHARD_TEST_FREE_MB:-$(df -Pk "$existing" | awk 'NR == 2 { print int($4 / 1024) }')}
	if [ "$FREE_MB" -lt "$NEED_MB" ]; then
		die "not enough disk: the $KIND install needs about $NEED_MB MB in $existing, and $FREE_MB MB are free. Free some space and run the installer again."
	fi
}

choose_service() {
	SERVICE=${SERVICE_FLAG:-$(receipt_get service)}
	[ "$SYSTEM" = 0 ] || SERVICE=system
	[ -n "$SERVICE" ] || SERVICE=none
	if [ "$SERVICE" != none ] && [ "$OS" != Linux ]; then
		die "--service needs systemd (Linux); on $OS_NAME run 'neuroshard run' yourself"
	fi
	if [ "$SERVICE" = none ] && [ -z "$SERVICE_FLAG" ] && [ "$OS" = Linux ] && can_ask && has_user_systemd; then
		if ask_yes "Run NeuroShard in the background as a systemd user service (starts at boot)? [y/N]" n; then SERVICE=user; fi
	fi
}

has_user_systemd() { command -v systemctl >/dev/null 2>&1 && systemctl --user show-environment >/dev/null 2>&1; }

# Checked before anything is installed, so a missing service manager costs nothing.
check_service_manager() {
	if [ "$SERVICE" = user ] && ! has_user_systemd; then
		problem="--service needs a systemd user manager, and this session has none (no systemd, or XDG_RUNTIME_DIR unset as under 'sudo -u' or 'su').
  Log in as this user directly (SSH is fine) and rerun, or use --system for a system service."
	elif [ "$SERVICE" = system ] && { ! command -v systemctl >/dev/null 2>&1 || [ ! -d /run/systemd/system ]; }; then
		problem="--system needs systemd, which is not running on this machine"
	else
		return 0
	fi
	[ "$DRY_RUN" = 1 ] || die "$problem"
	warn "a real run would stop here: $problem"
}

show_plan() {
	if [ -x "$VENV/bin/python" ]; then venv_note="exists: upgrade in place"; else venv_note="new"; fi
	case $SERVICE in
	none) service_note="none (run it yourself, or rerun with --service)" ;;
	user) service_note="systemd user unit $UNIT_PATH, enabled and started" ;;
	system) service_note="systemd system unit $UNIT_PATH, user '$SERVICE_USER', enabled and started" ;;
	esac
	say "NeuroShard agent installer"
	say ""
	say "  system      $OS_NAME, $ARCH"
	say "  python      ${PY:-uv-managed} ($PY_VERSION)"
	say "  NVIDIA GPU  ${GPU_NAME:-none}"
	say "  install     $KIND${EXTRAS:+ (extras: $EXTRAS)}"
	say "  from        ${FROM_DIR:-PyPI ($PACKAGE)}"
	say "  with        ${UV:-pip} into the venv $VENV ($venv_note)"
	say "  command     $LINK"
	say "  state       $STATE_DIR (identity, checkpoints, ledger: kept across upgrades)"
	say "  service     $service_note"
	say "  disk        $FREE_MB MB free, about $NEED_MB MB needed"
	say ""
	if can_ask && ! ask_yes "Proceed? [Y/n]" y; then
		say "Nothing was changed."
		exit 0
	fi
}

# mkdir -p that remembers which directories it created, so --uninstall can remove exactly those.
make_dir() {
	missing=""
	dir=$1
	while [ ! -d "$dir" ]; do
		missing="$dir
$missing"
		dir=$(dirname "$dir")
	done
	[ -n "$missing" ] || return 0
	step mkdir -p "$1"
	CREATED_DIRS="$CREATED_DIRS$missing"
}

pkg_install() { # pkg_install ARGS... : pip or uv pip into the venv
	# NEUROSHARD_PIP_ARGS is split on spaces on purpose (see usage).
	# shellcheck disable=SC2086
	if [ -n "$UV" ]; then
		step "$UV" pip install --python "$VENV/bin/python" ${NEUROSHARD_PIP_ARGS:-} "$@"
	else
		step "$VENV/bin/python" -m pip install --disable-pip-version-check ${NEUROSHARD_PIP_ARGS:-} "$@"
	fi
}

make_venv() {
	if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
		say "Upgrading the existing install in $VENV"
	else
		# A venv whose Python disappeared (an OS upgrade) is rebuilt; the state dir is elsewhere.
		[ ! -e "$VENV" ] || step rm -rf "$VENV"
		make_dir "$INSTALL_DIR"
		if [ -n "$UV" ]; then
			step "$UV" venv --python "${PY:-3.12}" "$VENV"
		else
			step "$PY" -m venv "$VENV"
		fi
	fi
	# pip from an old Debian venv works, but a current one resolves faster and reads newer metadata.
	if [ -z "$UV" ]; then
		if [ "$DRY_RUN" = 0 ] && ! "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
			step "$VENV/bin/python" -m ensurepip --upgrade # a venv made by uv has no pip
		fi
		pkg_install --quiet --upgrade pip
	fi
}

install_packages() {
	if [ "$TORCH" != none ] && [ -n "$TORCH_INDEX" ]; then
		# Torch first from its own index; the agent's install below then finds it satisfied
		# and does not swap in PyPI's multi-GB CUDA build.
		pkg_install --upgrade --index-url "$TORCH_INDEX" torch
	fi
	if [ -n "$UV" ]; then
		if [ -n "$FROM_DIR" ]; then
			pkg_install --reinstall-package "$PACKAGE" "$REQUIREMENT"
		else
			pkg_install --upgrade-package "$PACKAGE" "$REQUIREMENT"
		fi
	else
		# only-if-needed: upgrade the agent, keep a satisfied torch where it came from.
		pkg_install --upgrade --upgrade-strategy only-if-needed "$REQUIREMENT"
	fi
}

link_command() {
	make_dir "$BIN_DIR"
	if [ -e "$LINK" ] && [ ! -L "$LINK" ]; then
		die "$LINK exists and is not a link made by this installer (a 'pip install --user' copy?). Remove it and run the installer again."
	fi
	step ln -sf "$VENV/bin/neuroshard" "$LINK"
}

write_receipt() {
	if [ "$DRY_RUN" = 1 ]; then
		VERSION="(known after install)"
	else
		VERSION=$("$VENV/bin/python" -c "from importlib.metadata import version; print(version('$PACKAGE'))")
	fi
	{
		say "# NeuroShard install receipt, written by install.sh; read by its upgrades and --uninstall."
		say "version=$VERSION"
		say "extras=$EXTRAS"
		say "torch=$TORCH"
		say "source=${FROM_DIR:-pypi}"
		say "installer=${UV:-pip}"
		say "python=${PY:-uv-managed}"
		say "os=$OS"
		say "arch=$ARCH"
		say "service=$SERVICE"
		say "venv=$VENV"
		say "link=$LINK"
		say "unit=$UNIT_PATH"
		say "state_dir=$STATE_DIR"
		say "installed_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
		printf '%s' "$CREATED_DIRS" | awk 'NF && !seen[$0]++ { print "created_dir=" $0 }'
	} >"$TMPD/receipt.txt"
	put_file "$TMPD/receipt.txt" "$RECEIPT" 0644
}

# systemctl in this install's scope: the user manager, or the system one for --system.
sctl() {
	if [ "$SYSTEM" = 1 ]; then step systemctl "$@"; else step systemctl --user "$@"; fi
}

start_service() {
	render_unit "$SERVICE" >"$TMPD/$UNIT_NAME"
	make_dir "$UNIT_DIR"
	put_file "$TMPD/$UNIT_NAME" "$UNIT_PATH" 0644
	sctl daemon-reload
	sctl enable "$UNIT_NAME"
	sctl restart "$UNIT_NAME" # starts it, or restarts it on the upgraded code
}

remove_service() {
	[ -f "$UNIT_PATH" ] || return 0
	sctl disable --now "$UNIT_NAME" || warn "could not stop $UNIT_NAME; removing it anyway"
	step rm -f "$UNIT_PATH"
	sctl daemon-reload || true
}

install_user_service() {
	start_service
	# Without lingering, a user service stops at logout and waits for a login after boot.
	user_name=$(id -un)
	if [ "$(loginctl show-user "$user_name" --property=Linger --value 2>/dev/null || true)" != yes ]; then
		step loginctl enable-linger "$user_name" ||
			warn "could not enable lingering; to start the agent at boot without a login, run: sudo loginctl enable-linger $user_name"
	fi
}

install_system_service() {
	if ! id "$SERVICE_USER" >/dev/null 2>&1; then
		nologin=/usr/sbin/nologin
		[ -x "$nologin" ] || nologin=/sbin/nologin
		step useradd --system --user-group --home-dir "$SYSTEM_STATE_DIR" --no-create-home --shell "$nologin" "$SERVICE_USER"
	fi
	start_service
}

run_bench() {
	say ""
	say "Measuring this device (neuroshard bench); on a Raspberry Pi this takes a minute or two."
	NEED_SUDO=0 # the benchmark needs no privileges
	if [ "$SYSTEM" = 1 ]; then
		# Not into the invoking user's state: the service measures again as its own user.
		set -- --state-dir "$TMPD/bench-state"
	else
		set -- # the agent reuses the cached figure at its first start
	fi
	step "$VENV/bin/neuroshard" bench "$@" ||
		die "the agent is installed, but 'neuroshard bench' failed (output above). Run '$VENV/bin/neuroshard bench' to retry; report it if it keeps failing."
}

print_next() {
	say ""
	if [ "$DRY_RUN" = 1 ]; then
		say "Dry run: nothing was changed."
		return 0
	fi
	say "NeuroShard $VERSION is installed ($KIND)."
	command_name=neuroshard
	case ":$PATH:" in
	*":$BIN_DIR:"*) ;;
	*) command_name=$LINK
		say "$BIN_DIR is not on your PATH: run '$LINK', or add it: echo 'export PATH=\"$BIN_DIR:\$PATH\"' >> ~/.profile (then log in again)." ;;
	esac
	case $SERVICE in
	user) say "It is running as a user service. Follow it: journalctl --user -u neuroshard -f   Stop it: systemctl --user stop neuroshard" ;;
	system) say "It is running as a system service. Follow it: journalctl -u neuroshard -f   Stop it: sudo systemctl stop neuroshard" ;;
	*) say "Next: $command_name run" ;;
	esac
	[ "$DASHBOARD" = 0 ] || say "Watch it: $command_name dashboard"
}

do_install() {
	find_python
	choose_installer
	detect_gpu
	choose_extras
	check_disk
	choose_service
	check_service_manager
	show_plan
	[ "$SYSTEM" = 0 ] || umask 022 # the service user must be able to read the venv
	NEED_SUDO=$NEED_SUDO_FOR_SYSTEM
	make_venv
	install_packages
	link_command
	write_receipt
	run_bench
	NEED_SUDO=$NEED_SUDO_FOR_SYSTEM
	case $SERVICE in
	user) install_user_service ;;
	system) install_system_service ;;
	none) [ "$SERVICE_FLAG" != none ] || remove_service ;;
	esac
	print_next
}

describe_state() {
	say "--purge deletes $STATE_DIR ($(du -sh "$STATE_DIR" 2>/dev/null | cut -f1)):"
	say "  - this node's identity key: its node id and anything earned under it are gone for good"
	say "  - its checkpoints (trained weights) and local ledger, data shards and caches"
}

uninstall() {
	[ "$SYSTEM" = 0 ] || umask 022
	NEED_SUDO=$NEED_SUDO_FOR_SYSTEM
	if [ "$PURGE" = 1 ] && [ -d "$STATE_DIR" ]; then
		describe_state
		if can_ask; then
			ask_yes "Delete it? [y/N]" n || die "nothing was removed"
		elif [ "$UNATTENDED" = 0 ] && [ "$DRY_RUN" = 0 ]; then
			die "--purge deletes your node's identity; there is no terminal to confirm on, so rerun with --unattended to confirm"
		fi
	fi
	if [ ! -e "$INSTALL_DIR" ] && [ ! -L "$LINK" ] && [ ! -f "$UNIT_PATH" ]; then
		say "No NeuroShard install found at $INSTALL_DIR."
	else
		say "Removing the NeuroShard agent from $INSTALL_DIR"
	fi
	created_dirs=$(sed -n 's/^created_dir=//p' "$RECEIPT" 2>/dev/null || true)
	remove_service
	if [ -L "$LINK" ] && [ "$(readlink "$LINK")" = "$VENV/bin/neuroshard" ]; then
		step rm -f "$LINK"
	elif [ -e "$LINK" ]; then
		warn "$LINK was not made by this installer; left in place"
	fi
	[ ! -e "$INSTALL_DIR" ] || step rm -rf "$INSTALL_DIR"
	if [ "$PURGE" = 1 ]; then
		[ ! -e "$STATE_DIR" ] || step rm -rf "$STATE_DIR"
		if [ "$SYSTEM" = 1 ] && id "$SERVICE_USER" >/dev/null 2>&1; then step userdel "$SERVICE_USER"; fi
	fi
	# Directories this installer created, deepest first, only if now empty.
	printf '%s\n' "$created_dirs" | sort -r | while IFS= read -r dir; do
		if [ -n "$dir" ] && [ -d "$dir" ] && [ -z "$(ls -A "$dir")" ]; then step rmdir "$dir"; fi
	done
	if [ "$PURGE" = 0 ] && [ -d "$STATE_DIR" ]; then
		say "Kept the state dir $STATE_DIR (identity, checkpoints, ledger): a reinstall picks it up. --purge deletes it."
	fi
	[ "$DRY_RUN" = 0 ] || say "Dry run: nothing was changed."
}

main() {
	FROM_DIR="" TORCH_FLAG="" TORCH_INDEX="" DASHBOARD=1 SERVICE_FLAG="" SYSTEM=0 ACTION=install
	PURGE=0 DRY_RUN=0 UNATTENDED=0 UNIT_KIND="" NEED_SUDO=0 NEED_SUDO_FOR_SYSTEM=0
	DIED=0 CURRENT_STEP="" TMPD="" CREATED_DIRS="" PY="" PY_VERSION="" PY_PROBLEM=""
	trap on_exit EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	parse_args "$@"
	detect_platform
	[ "$ACTION" != print-unit ] || [ "$UNIT_KIND" != system ] || SYSTEM=1
	set_paths
	if [ "$NEED_SUDO_FOR_SYSTEM" = 1 ] && [ "$DRY_RUN" = 0 ] && [ "$ACTION" != print-unit ]; then
		command -v sudo >/dev/null 2>&1 || die "--system needs root: run this as root, or install sudo"
	fi
	TMPD=$(mktemp -d "${TMPDIR:-/tmp}/neuroshard-install.XXXXXX")
	case $ACTION in
	print-unit)
		case $UNIT_KIND in user | system) render_unit "$UNIT_KIND" ;; *) die "--print-unit takes user or system, got '$UNIT_KIND'" ;; esac ;;
	uninstall) uninstall ;;
	install)
		CREATED_DIRS=$(sed -n 's/^created_dir=//p' "$RECEIPT" 2>/dev/null || true)
		[ -z "$CREATED_DIRS" ] || CREATED_DIRS="$CREATED_DIRS
"
		do_install ;;
	esac
}

main "$@"
