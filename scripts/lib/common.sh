# Sourced by scripts/install, scripts/lock and scripts/test: the step printer, uv's index settings
# (pip's, see pip_index_env.py) and uv's bootstrap.

# One line per step, so a CI log says what the command was doing when it stopped, and since when
# (seconds since the script started).
step() { printf '==> [%4ss] %s\n' "$SECONDS" "$*"; }

# The uv that scripts/install bootstrapped into ./venv (pinned and hash-checked in requirements.lock).
UV=venv/bin/uv

# Gives uv the package indexes, find-links, certificates and timeout pip has on this machine.
uv_index_settings() {
    eval "$(python3 scripts/lib/pip_index_env.py)"
    # Progress bars are noise in a log; the step lines say what runs.
    export UV_NO_PROGRESS=1
}

# Prints the requirement block for package $1 (its `name==version \` line and hash lines) from
# lock file $2, as `pip install --require-hashes -r` reads it.
lock_entry() {
    awk -v name="$1" '
        $0 ~ "^" name "==" { found = 1 }
        found { print; if ($0 !~ /\\$/) exit }
    ' "$2"
}

# Installs ./venv's uv with pip, from its hash-pinned entry in requirements.lock, unless the pinned
# version is there already.
bootstrap_uv() {
    local entry version
    entry=$(lock_entry uv requirements.lock)
    version=$(printf '%s\n' "$entry" | sed -n 's/^uv==\([^ ]*\).*/\1/p')
    if [ -z "$version" ]; then
        echo "requirements.lock has no uv==<version> entry: add uv to requirements.txt and run scripts/lock" >&2
        return 1
    fi
    if [ -x "$UV" ] && [ "$("$UV" --version | cut -d' ' -f2)" = "$version" ]; then
        return 0
    fi
    step "bootstrapping uv $version into venv with pip (hash-checked, from requirements.lock)"
    venv/bin/python -m pip install -qq --disable-pip-version-check --no-deps \
        --require-hashes -r /dev/stdin <<<"$entry"
}
