#!/usr/bin/env bash
# tests/systemd/boot.sh DIR SRC BUILD — run by run.sh as the first process of
# fresh pid/mount/uts/ipc/net/cgroup namespaces: builds a root on an overlay
# of the host's / (upper layer on a tmpfs, so the host is never written),
# installs svcd into it (make install PREFIX=/usr DESTDIR=<the root>), gives
# it fresh proc, sys, cgroup2, run, tmp and dev, pivots into it and becomes
# systemd. Everything it prints goes to DIR/console.log.
set -eu
dir=$1 src=$2 build=$3
mount --make-rprivate /
mkdir -p "$dir/t"
mount -t tmpfs -o mode=755 tmpfs "$dir/t"
mkdir -p "$dir/t/upper" "$dir/t/work" "$dir/t/root"
m=$dir/t/root
mount -t overlay overlay -o "lowerdir=/,upperdir=$dir/t/upper,workdir=$dir/t/work" "$m"

# whatever svcd the host may have configured is not part of the test (removed
# on the overlay only)
rm -rf "$m/etc/svcd" "$m/etc/systemd/system/svcd.service.d" "$m/etc/systemd/system/svcd.socket.d" \
	"$m/etc/systemd/system/svcd.service" "$m/etc/systemd/system/svcd.socket"
echo "boot: make install PREFIX=/usr DESTDIR=$m"
make -s -C "$src" install BUILD="$build" PREFIX=/usr DESTDIR="$m" >"$dir/install.log" 2>&1 || {
	echo "boot: make install failed:"
	tail -n 20 "$dir/install.log"
	exit 1
}
# the example hook of conf/svcd.conf where the configuration names it
install -D -m 0755 "$src/conf/hooks/welcome-mail.sh" "$m/usr/local/share/svcd/welcome-mail.sh"

mount -t proc -o nosuid,nodev,noexec proc "$m/proc"
for p in sys sysrq-trigger; do
	[ -e "$m/proc/$p" ] || continue
	mount --bind "$m/proc/$p" "$m/proc/$p"
	mount -o remount,bind,ro "$m/proc/$p"
done
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$m/sys"
mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 "$m/sys/fs/cgroup"
mount -t tmpfs -o mode=755,nosuid,nodev tmpfs "$m/run"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$m/tmp"
mount -t tmpfs -o mode=755,nosuid tmpfs "$m/dev"
for n in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0; do
	IFS=: read -r name major minor <<<"$n"
	mknod -m 666 "$m/dev/$name" c "$major" "$minor"
done
mkdir -p "$m/dev/pts" "$m/dev/shm" "$m/dev/mqueue"
mount -t devpts -o newinstance,ptmxmode=0666,mode=620,gid=5 devpts "$m/dev/pts"
ln -s pts/ptmx "$m/dev/ptmx"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$m/dev/shm"
touch "$m/dev/console"
mount --bind /dev/null "$m/dev/console"
ln -s /proc/self/fd "$m/dev/fd"
ln -s /proc/self/fd/0 "$m/dev/stdin"
ln -s /proc/self/fd/1 "$m/dev/stdout"
ln -s /proc/self/fd/2 "$m/dev/stderr"

cd "$m"
mkdir -p oldroot
pivot_root . oldroot
umount -l /oldroot
rmdir /oldroot
echo "boot: exec systemd"
exec env -i container=svcd-systemd-test TERM=dumb /usr/lib/systemd/systemd \
	--unit=basic.target --log-target=journal-or-kmsg --show-status=no
