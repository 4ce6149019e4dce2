# Provisions Node.js 24 LTS, the runtime Synod builds, tests and ships on, from the npm registry
# alone, when the host's `node` is older (or missing). Source it so that PATH changes in your shell:
#
#   . tools/node24.sh && npm ci && npm test
#
# The official binary is published on the npm registry as `node-linux-<arch>` (the carrier of the
# `node` package's binary). It is fetched with `npm pack` (so the user's registry, proxy and CA
# settings apply) or, with no npm on the host, straight from the registry with curl; its sha512 is
# checked against the integrity pinned below, then unpacked into tmp/node-v<version>-linux-<arch>/
# (binary and C headers) and put first on PATH. `npm_config_nodedir` points native addon builds
# (node-gyp) at the same headers.
#
# SYNOD_NODE_PROVISION=0 turns provisioning off: the script then only reports.
# Executed instead of sourced, it provisions and prints the line to put on PATH.

synod_node24() {
  local version=24.22.3 major=24
  local root
  root=$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." 2>/dev/null && pwd)
  # A shell that does not say which file it sources (dash): the clone is the working directory.
  [ -n "$root" ] && [ -f "$root/tools/node24.sh" ] || root=$(pwd)
  local have=""
  if command -v node >/dev/null 2>&1; then have=$(node -p 'process.versions.node' 2>/dev/null); fi
  if [ -n "$have" ] && [ "${have%%.*}" -ge "$major" ]; then
    echo "node24: using node v$have ($(command -v node))" >&2
    return 0
  fi
  if [ "${SYNOD_NODE_PROVISION:-1}" = "0" ]; then
    echo "node24: Synod needs Node.js >= $major (found ${have:-none}); provisioning is off (SYNOD_NODE_PROVISION=0)" >&2
    return 1
  fi

  local os arch integrity
  case "$(uname -s)" in Linux) os=linux ;; *) os="" ;; esac
  case "$(uname -m)" in
    x86_64 | amd64) arch=x64 integrity='sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==' ;;
    aarch64 | arm64) arch=arm64 integrity='sha512-IZx0J52/1NDwAsY2iyWR9nlPIYuYviTWetjj8+ElvYQh2+XRhLfCfkbFEF/2O5vGI2hcUbyPNHV+nz342FbJXw==' ;;
    *) arch="" ;;
  esac
  if [ -z "$os" ] || [ -z "$arch" ]; then
    echo "node24: no pinned Node $version build for $(uname -s)/$(uname -m); install Node.js $major (https://nodejs.org or nvm) and put it on PATH" >&2
    return 1
  fi

  local prefix="$root/tmp/node-v$version-$os-$arch"
  if [ ! -x "$prefix/bin/node" ]; then
    local pkg="node-$os-$arch" work
    work=$(mktemp -d) || return 1
    echo "node24: fetching $pkg@$version from the npm registry" >&2
    local tgz="$work/$pkg-$version.tgz"
    if command -v npm >/dev/null 2>&1; then
      (cd "$work" && npm pack --silent "$pkg@$version" >/dev/null) || { rm -rf "$work"; echo "node24: npm pack $pkg@$version failed" >&2; return 1; }
    elif command -v curl >/dev/null 2>&1; then
      curl -fsSL -o "$tgz" "https://registry.npmjs.org/$pkg/-/$pkg-$version.tgz" || { rm -rf "$work"; echo "node24: download of $pkg@$version failed" >&2; return 1; }
    else
      rm -rf "$work"; echo "node24: needs npm or curl to fetch $pkg@$version" >&2; return 1
    fi
    local got=""
    if command -v openssl >/dev/null 2>&1; then
      got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
    else
      got=$(node -e 'const c=require("node:crypto"),f=require("node:fs");process.stdout.write("sha512-"+c.createHash("sha512").update(f.readFileSync(process.argv[1])).digest("base64"))' "$tgz" 2>/dev/null)
    fi
    if [ "$got" != "$integrity" ]; then
      rm -rf "$work"; echo "node24: $pkg@$version does not match its pinned integrity (got $got)" >&2; return 1
    fi
    mkdir -p "$work/unpacked" && tar -xzf "$tgz" -C "$work/unpacked" --strip-components=1 package/bin package/include \
      || { rm -rf "$work"; echo "node24: could not unpack $tgz" >&2; return 1; }
    mkdir -p "$root/tmp" && rm -rf "$prefix" && mv "$work/unpacked" "$prefix"
    rm -rf "$work"
  fi
  export PATH="$prefix/bin:$PATH"
  export npm_config_nodedir="$prefix"
  hash -r 2>/dev/null
  echo "node24: using node $("$prefix/bin/node" --version) from ${prefix#"$root"/} (host node: ${have:-none})" >&2
}

if (return 0 2>/dev/null); then
  synod_node24
else
  synod_node24 || exit 1
  echo "export PATH=\"$(dirname "$(command -v node)"):\$PATH\""
fi
