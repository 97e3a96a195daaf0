#!/bin/sh
# Prints a Vulkan include folder new enough for the vendored ggml-vulkan (it uses
# VK_EXT_layer_settings, in the headers since 1.3.261), or nothing when the system's are.
# Debian 12 ships 1.3.239: then Debian 13's libvulkan-dev is fetched with apt, from a
# source list of its own (the system's apt set-up is not touched), and only its headers
# are unpacked, once, under ~/.cache/xllamacpp. The loader library stays the system's.
set -eu
NEED=261
PACKAGE=libvulkan-dev=1.4.309.0-1
SUITE="deb http://deb.debian.org/debian trixie main"

have=$(sed -n 's/^#define VK_HEADER_VERSION \([0-9]*\).*/\1/p' /usr/include/vulkan/vulkan_core.h 2>/dev/null || true)
if [ -n "$have" ] && [ "$have" -ge "$NEED" ]; then
    exit 0
fi
dest="${XDG_CACHE_HOME:-$HOME/.cache}/xllamacpp/vulkan-headers-${PACKAGE#*=}"
if [ ! -f "$dest/usr/include/vulkan/vulkan.hpp" ]; then
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
    echo "$SUITE" > "$work/sources.list"
    apt_opts="-q -o Dir::Etc::sourcelist=$work/sources.list -o Dir::Etc::sourceparts=- \
        -o Dir::State::Lists=$work/lists -o Dir::Cache=$work/cache -o APT::Sandbox::User=root"
    # shellcheck disable=SC2086
    apt-get $apt_opts update >&2
    # shellcheck disable=SC2086
    (cd "$work" && apt-get $apt_opts download "$PACKAGE" >&2)
    rm -rf "$dest.tmp" && mkdir -p "$dest.tmp"
    dpkg-deb -x "$work"/libvulkan-dev_*.deb "$dest.tmp"
    rm -rf "$dest" && mv "$dest.tmp" "$dest"
fi
echo "$dest/usr/include"
