#!/usr/bin/env bash
# Build the BlueZ test VM from Debian packages: build.sh OUTDIR  (root; qemu-system-x86, debootstrap, cpio)
#
# OUTDIR receives vmlinuz (the Debian kernel, which has Bluetooth and vhci as modules) and initrd.img: a
# Debian bookworm minbase with bluez, dbus and python3 (3.11, the project's Python), the kernel modules
# for Bluetooth, virtio and 9p, and init (tests/bluez/vm/init). Nothing prebuilt is downloaded: the
# kernel is the distribution's package, the root file system is debootstrapped from the mirror apt uses.
# OUTDIR/stamp holds the hash of this script and init; tests/bluez/vm.py rebuilds when it changes.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$(mkdir -p "$1" && cd "$1" && pwd)"
suite=bookworm
[ "$(id -u)" = 0 ] || { echo "building the BlueZ VM needs root (debootstrap, chroot)" >&2; exit 1; }
for tool in debootstrap cpio dpkg-deb apt-get; do
    command -v "$tool" >/dev/null || { echo "$tool is not installed (apt-get install debootstrap cpio)" >&2; exit 1; }
done

stamp="$(cat "$here/build.sh" "$here/init" | sha256sum | cut -c1-16)"
exec 9>"$out.lock"
flock 9  # one build at a time; a second builder finds the first one's result
if [ -e "$out/stamp" ] && [ "$(cat "$out/stamp")" = "$stamp" ]; then
    exit 0
fi

mirror="${CLINIC_AGENT_DEBIAN_MIRROR:-}"
if [ -z "$mirror" ]; then  # the mirror apt already uses (deb822 or one-line sources)
    mirror="$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '$1 == "URIs:" && $2 ~ /\/debian\/?$/ {print $2; exit}')"
    mirror="${mirror:-$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
        | awk '$1 == "deb" && $2 ~ /\/debian\/?$/ {print $2; exit}')}"
    mirror="${mirror:-http://deb.debian.org/debian}"
fi

work="$(mktemp -d "$out.build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
started=$SECONDS

# The kernel: the package linux-image-amd64 points at, unpacked (not installed).
kernel_pkg="$(apt-cache depends --important linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')"
[ -n "$kernel_pkg" ] || { echo "apt knows no linux-image-amd64 (apt-get update?)" >&2; exit 1; }
(cd "$work" && apt-get download -qq -o APT::Sandbox::User=root "$kernel_pkg")
dpkg-deb -x "$work"/"$kernel_pkg"_*.deb "$work/kernel"
kver="$(ls "$work/kernel/lib/modules")"
echo "kernel $kernel_pkg ($kver); debootstrap $suite from $mirror" >&2

root="$work/root"
debootstrap --variant=minbase --include=bluez,dbus,python3,kmod "$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 \
    || { tail -30 "$work/debootstrap.log" >&2; exit 1; }

# Only the modules the test needs (Bluetooth, vhci, rfkill, crypto for SMP, virtio and 9p for the shares).
modules="lib/modules/$kver"
mkdir -p "$root/$modules/kernel"
for dir in drivers/bluetooth net/bluetooth net/rfkill crypto lib arch/x86/crypto drivers/virtio fs/9p net/9p fs/netfs fs/fscache; do
    if [ -d "$work/kernel/$modules/kernel/$dir" ]; then
        mkdir -p "$root/$modules/kernel/$(dirname "$dir")"
        cp -a "$work/kernel/$modules/kernel/$dir" "$root/$modules/kernel/$dir"
    fi
done
cp "$work/kernel/$modules"/modules.{order,builtin,builtin.modinfo} "$root/$modules/"
chroot "$root" depmod -a "$kver"

install -m 0755 "$here/init" "$root/init"
rm -rf "$root"/usr/share/{doc,man,info,locale} "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/*
(cd "$root" && find . -xdev | cpio --quiet -o -H newc | gzip -1) >"$work/initrd.img"
cp "$work/kernel/boot/vmlinuz-$kver" "$work/vmlinuz"
echo "$kernel_pkg $kver" >"$work/kernel.txt"

mv -f "$work/vmlinuz" "$work/initrd.img" "$work/kernel.txt" "$out/"
echo "$stamp" >"$out/stamp"
echo "BlueZ VM built in $((SECONDS - started)) s: $(du -sh "$out/initrd.img" | cut -f1) initrd" >&2
