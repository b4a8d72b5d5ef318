# svcd — one non-recursive Makefile.
#
#   make            build svcd and svcctl into build/
#   make run        build and run svcd in the foreground on ./run/svcd.sock
#   make check      build and run the unit and integration suites
#   make sanitize   the same suites built with ASan + UBSan
#   make valgrind   the unit suite under valgrind (any leak or error fails)
#   make install    PREFIX=/usr/local DESTDIR= (see docs/operations.md)
#   make lib        libsvcd.so.0, libsvcd.a, public headers, svcd.pc into
#                   build/lib and build/include (make install-dev installs
#                   only those; make check-abi checks what they export)
#   make format | check-format | lint | clean
#
# Source files are found by wildcard: a new module is a new file, no edit here.

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
SBINDIR    ?= $(PREFIX)/sbin
MANDIR     ?= $(PREFIX)/share/man
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
SYSCONFDIR ?= /etc
VERSION    := 0.1.0

CC      ?= cc
BUILD   ?= build

# Install (as root) or name the missing build dependencies before anything
# reads pkg-config: a fresh Debian machine needs nothing done by hand.
ifneq ($(filter check integration sanitize check-stress,$(MAKECMDGOALS)),)
EXTRA_DEPS += socat jq redis-server python3
# t_webhooks.sh makes a CA and a server certificate for its HTTPS receiver
EXTRA_DEPS += openssl
EXTRA_DEPS += prometheus curl
EXTRA_DEPS += sqlite3
EXTRA_DEPS += redis-sentinel
endif
# the durable bench sets SQLite against the other embedded stores
ifneq ($(filter bench,$(MAKECMDGOALS)),)
EXTRA_DEPS += liblmdb-dev librocksdb-dev
endif
ifeq ($(filter clean format check-format,$(MAKECMDGOALS)),)
ifneq ($(shell .ci/deps $(EXTRA_DEPS) >&2; echo $$?),0)
$(error missing build dependencies, see above)
endif
endif
PKGS    := jansson inih hiredis sqlite3 libcurl libcrypto
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lev -lm
CHECK_CFLAGS := $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS   := $(shell pkg-config --libs check 2>/dev/null)

WARN    := -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes \
           -Wmissing-prototypes -Wno-unused-parameter
ifeq ($(CI),true)
WARN    += -Werror
endif
ifdef WERROR
WARN    += -Werror
endif
OPT     ?= -O2 -g
CFLAGS  ?=
CFLAGS  += -std=c11 -D_GNU_SOURCE -MMD -MP $(OPT) $(WARN) \
           -DSVCD_VERSION='"$(VERSION)"' -I. \
           $(PKG_CFLAGS)
LDLIBS  += $(PKG_LIBS) -lpthread

LIB_SRC    := $(filter-out daemon/main.c,$(wildcard daemon/*.c services/*.c))
LIB_OBJ    := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLIENT_SRC := $(filter-out client/svcctl.c,$(wildcard client/*.c))
CLIENT_OBJ := $(CLIENT_SRC:%.c=$(BUILD)/%.o)
CLIENT_LIB := $(BUILD)/libsvcctl.a
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
UNIT_HELP  := $(filter-out $(UNIT_SRC),$(wildcard tests/unit/*.c))
UNIT_HOBJ  := $(UNIT_HELP:%.c=$(BUILD)/%.o)
INTEG      := $(sort $(wildcard tests/integration/t_*.sh))

SVCD    := $(BUILD)/svcd
SVCCTL  := $(BUILD)/svcctl
LIB     := $(BUILD)/libsvcd.a

.PHONY: man all deps check unit integration run install uninstall clean sanitize \
        valgrind format check-format lint
.DELETE_ON_ERROR:
.SECONDARY:

all: deps $(SVCD) $(SVCCTL)

deps:
	@.ci/deps

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(CHECK_CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(SVCD): $(BUILD)/daemon/main.o $(LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# ---- libsvcd: the framework as an installable library (docs/framework.md,
# "Building your own daemon") ----------------------------------------------
# svcd and the tests link the plain objects and $(LIB) above; what is
# installed is built apart from them, from position-independent objects in
# $(BUILD)/pic, so svcd's own code is unchanged by it:
#   $(BUILD)/lib/libsvcd.so.0.1.0  soname libsvcd.so.0 (+ the two links)
#   $(BUILD)/lib/libsvcd.a         one relocatable object (ld -r) whose
#                                  non-public globals are made local
#   $(BUILD)/include/svcd/         the public headers as installed
#   $(BUILD)/lib/svcd.pc           for pkg-config
# The public API is every global symbol whose name starts with one of
# ABI_PREFIXES, and nothing else: the version script of the shared library
# and the symbol list of the static one are both made from this one list,
# and `make check-abi` fails on anything exported without one of them.
# services/table.c is svcd's own table, not part of the library.
ABI_PREFIXES := svc_ svcd_ bus_ worker_ health_ journal_ hooks_ bridge_ \
                manager_ control_ timers_ app_ notification_ \
                metrics_
# `make -s abi-prefixes` prints them (t_install.sh checks the installed
# library against this one list).
.PHONY: abi-prefixes
abi-prefixes:
	@echo $(ABI_PREFIXES)
SOMAJOR    := 0
SONAME     := libsvcd.so.$(SOMAJOR)
PUBLIC_HDRS := daemon/service.h daemon/conf.h daemon/params.h \
               daemon/methods.h daemon/svcd.h daemon/logging.h \
               daemon/testing.h services/bus.h services/worker.h \
               services/manager.h

# Names a public header may declare that libsvcd does not export (none:
# check-abi fails on any such name not listed here).
ABI_PENDING :=
DIST_SRC   := $(filter-out services/table.c,$(LIB_SRC))
PIC_OBJ    := $(DIST_SRC:%.c=$(BUILD)/pic/%.o)
DIST_DIR   := $(BUILD)/lib
DIST_SO    := $(DIST_DIR)/libsvcd.so.$(VERSION)
DIST_A     := $(DIST_DIR)/libsvcd.a
DIST_PC    := $(DIST_DIR)/svcd.pc
DIST_INC   := $(BUILD)/include/svcd
DIST_HDRS  := $(PUBLIC_HDRS:%=$(DIST_INC)/%) $(DIST_INC)/svcd.h
ABI_MAP    := $(DIST_DIR)/libsvcd.map
ABI_SYMS   := $(DIST_DIR)/libsvcd.syms
ABI_RE     := ^($(subst $() ,|,$(strip $(ABI_PREFIXES))))

.PHONY: lib check-abi install-dev uninstall-dev FORCE
FORCE:
lib: $(DIST_DIR)/libsvcd.so $(DIST_A) $(DIST_PC) $(DIST_HDRS)

$(BUILD)/pic/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fPIC -c -o $@ $<

$(ABI_MAP): Makefile
	@mkdir -p $(dir $@)
	@printf '/* generated from ABI_PREFIXES in the Makefile */\n{\n\tglobal:\n%s\n\tlocal:\n\t\t*;\n};\n' \
		"$$(printf '\t\t%s*;\n' $(ABI_PREFIXES))" >$@
$(ABI_SYMS): Makefile
	@mkdir -p $(dir $@)
	@printf '%s*\n' $(ABI_PREFIXES) >$@

$(DIST_SO): $(PIC_OBJ) $(ABI_MAP)
	$(CC) $(CFLAGS) $(LDFLAGS) -shared -Wl,-soname,$(SONAME) \
		-Wl,--version-script=$(ABI_MAP) -o $@ $(PIC_OBJ) $(LDLIBS)
$(DIST_DIR)/libsvcd.so: $(DIST_SO)
	ln -sf libsvcd.so.$(VERSION) $(DIST_DIR)/$(SONAME)
	ln -sf $(SONAME) $@

$(DIST_A): $(PIC_OBJ) $(ABI_SYMS)
	$(LD) -r -o $(DIST_DIR)/libsvcd.o $(PIC_OBJ)
	objcopy --wildcard --keep-global-symbols=$(ABI_SYMS) \
		$(DIST_DIR)/libsvcd.o $(DIST_DIR)/libsvcd-public.o
	@rm -f $@
	$(AR) rcs $@ $(DIST_DIR)/libsvcd-public.o
	@rm -f $(DIST_DIR)/libsvcd.o $(DIST_DIR)/libsvcd-public.o

# Installed headers keep their daemon/ and services/ directories; an include
# of another public header by its bare name ("service.h") is written with
# its directory ("daemon/service.h"), so -I$${includedir}/svcd is the one
# flag needed. svcd.h (the umbrella) includes every public header.
HDR_SED := $(foreach h,$(PUBLIC_HDRS),-e 's|^\#include "$(notdir $(h))"|\#include "$(h)"|')
$(DIST_INC)/%.h: %.h Makefile
	@mkdir -p $(dir $@)
	@echo "sed (public header) $< >$@"; sed $(HDR_SED) $< >$@
$(DIST_INC)/svcd.h: Makefile
	@mkdir -p $(dir $@)
	@{ echo '/* svcd.h — every public header of libsvcd $(VERSION) (generated). */'; \
	   echo '#ifndef SVCD_LIBSVCD_H'; echo '#define SVCD_LIBSVCD_H'; echo; \
	   printf '#include "%s"\n' $(PUBLIC_HDRS); echo; echo '#endif'; } >$@

# rewritten every time: PREFIX and LIBDIR may differ from the last run
$(DIST_PC): FORCE
	@mkdir -p $(dir $@)
	@{ echo 'prefix=$(PREFIX)'; echo 'exec_prefix=$${prefix}'; \
	   echo 'libdir=$(patsubst $(PREFIX)/%,$${exec_prefix}/%,$(LIBDIR))'; \
	   echo 'includedir=$(patsubst $(PREFIX)/%,$${prefix}/%,$(INCLUDEDIR))'; echo; \
	   echo 'Name: svcd'; \
	   echo 'Description: service framework of svcd: services, dependency graph, event bus, worker, svcd_main()'; \
	   echo 'Version: $(VERSION)'; \
	   echo 'Requires: jansson'; \
	   echo 'Requires.private: inih sqlite3 hiredis libcurl libcrypto'; \
	   echo 'Cflags: -I$${includedir}/svcd'; \
	   echo 'Libs: -L$${libdir} -lsvcd -lev'; \
	   echo 'Libs.private: -lm -lpthread'; } >$@

# Every exported symbol (shared and static) carries a prefix of ABI_PREFIXES;
# every public header compiles on its own; every function a public header
# declares is exported by the shared library (gcc's -aux-info lists them).
check-abi: lib
	@bad=$$(nm -D --defined-only $(DIST_SO) | awk '{print $$NF}' | \
		grep -Ev '$(ABI_RE)'); \
	if [ -n "$$bad" ]; then echo "check-abi: $(DIST_SO) exports names without a prefix:"; \
		echo "$$bad"; exit 1; fi
	@bad=$$(nm -g --defined-only $(DIST_A) | awk 'NF == 3 {print $$3}' | \
		grep -Ev '$(ABI_RE)'); \
	if [ -n "$$bad" ]; then echo "check-abi: $(DIST_A) exports names without a prefix:"; \
		echo "$$bad"; exit 1; fi
	@nm -D --defined-only $(DIST_SO) | awk '{print $$NF}' | sed 's/@.*//' | \
		sort -u >$(DIST_DIR)/exported.txt
	@for h in $(DIST_HDRS:$(DIST_INC)/%=%); do \
		printf '#include "%s"\n' $$h | (cd $(DIST_INC) && $(CC) -std=c11 \
			-Wall -Wextra -Werror -fsyntax-only -I. \
			$(shell pkg-config --cflags jansson) -x c -) || \
			{ echo "check-abi: $$h does not compile on its own"; exit 1; }; \
	done
	@printf '#include "svcd.h"\n' | (cd $(DIST_INC) && gcc -std=c11 -fsyntax-only \
		-aux-info $(abspath $(DIST_DIR))/aux-info.txt -I. \
		$(shell pkg-config --cflags jansson) -x c -)
	@bad=$$( { grep -E '^/\* (daemon|services)/' $(DIST_DIR)/aux-info.txt | \
		grep -v ' static ' | sed -E 's/^\/\* [^*]*\*\/ //; s/ \(.*//; s/.*[ *]//'; \
		sed -nE 's/^extern [^(;]* \**([A-Za-z_][A-Za-z0-9_]*)(\[\])?;.*/\1/p' \
		$(PUBLIC_HDRS:%=$(DIST_INC)/%); } | sort -u | comm -23 - $(DIST_DIR)/exported.txt | \
		grep -vxF -e '' $(ABI_PENDING:%=-e %)); \
	if [ -n "$$bad" ]; then echo "check-abi: public headers declare names libsvcd does not export:"; \
		echo "$$bad"; exit 1; fi
	@echo "check-abi: ok ($$(wc -l <$(DIST_DIR)/exported.txt) exported symbols)"
# ---- end libsvcd -------------------------------------------------------------

$(CLIENT_LIB): $(CLIENT_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

# svcctl links the base layer only (util, wire), never the daemon's library: it
# needs jansson, not libev, SQLite or hiredis.
BASE_OBJ     := $(BUILD)/daemon/util.o $(BUILD)/daemon/wire.o
CLIENT_LIBS  := $(shell pkg-config --libs jansson 2>/dev/null) -lm
$(SVCCTL): $(BUILD)/client/svcctl.o $(CLIENT_LIB) $(BASE_OBJ)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(CLIENT_LIBS)

# Each tests/unit/test_X.c is one Check binary; it links only what it uses.
$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(UNIT_HOBJ) $(CLIENT_LIB) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(CHECK_LIBS) $(LDLIBS)

check: all lib
	@$(MAKE) --no-print-directory check-abi
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory integration

unit: $(UNIT_BIN)
	@fail=0; for t in $(UNIT_BIN); do \
		CK_DEFAULT_TIMEOUT=$${CK_DEFAULT_TIMEOUT:-60} $(UNIT_RUNNER) $$t || fail=1; \
	done; exit $$fail

# A test-only svcd whose compiled-in table has a cycle: main.o linked with
# another svcd_table (the archive's table.o is then never pulled in).
SVCD_CYCLE := $(BUILD)/tests/svcd-cycle
$(SVCD_CYCLE): $(BUILD)/daemon/main.o $(BUILD)/tests/integration/cycle_table.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# A test-only svcd whose table adds a service that takes a minute to start:
# SIGTERM before READY must be a clean stop.
SVCD_SLOW := $(BUILD)/tests/svcd-slow
$(SVCD_SLOW): $(BUILD)/daemon/main.o $(BUILD)/tests/integration/slow_table.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

NOTIFYD := $(BUILD)/tests/notifyd
$(NOTIFYD): $(BUILD)/tests/integration/notifyd.o
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^

integration: $(SVCD) $(SVCCTL) $(SVCD_CYCLE) $(SVCD_SLOW) $(NOTIFYD)
	@SVCD_SANITIZED=$(SVCD_SANITIZED) SVCD=$(abspath $(SVCD)) SVCCTL=$(abspath $(SVCCTL)) \
		SVCD_CYCLE=$(abspath $(SVCD_CYCLE)) SVCD_SLOW=$(abspath $(SVCD_SLOW)) \
		NOTIFYD=$(abspath $(NOTIFYD)) \
		tests/integration/run.sh $(INTEG)

run: all
	@mkdir -p run
	$(SVCD) -c conf/svcd.conf -s run/svcd.sock

sanitize:
	$(MAKE) BUILD=build/sanitize OPT="-O1 -g -fno-omit-frame-pointer \
		-fsanitize=address,undefined -fno-sanitize-recover=all" \
		LDFLAGS="-fsanitize=address,undefined" SVCD_SANITIZED=1 check

# ---- fuzz (owner: tests/fuzz; see docs/testing.md, "Fuzzing") -------------
# make fuzz: build the libFuzzer targets with clang (ASan + UBSan, no
# recovery) into $(FUZZ_BUILD), then run each for FUZZ_SECONDS on the
# committed seeds (tests/fuzz/corpus/<target>, read only) plus a working
# corpus in $(FUZZ_BUILD)/corpus/<target>. Any crash, leak, UBSan report or
# timeout fails; the reproducer goes to $(FUZZ_BUILD)/crash-* etc.
FUZZ_SECONDS ?= 60
FUZZ_BUILD   ?= build/fuzz
FUZZ_TARGETS := request config args fastscan
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_MAXLEN_request := 4096
FUZZ_MAXLEN_config  := 8192
FUZZ_MAXLEN_args    := 2048
FUZZ_MAXLEN_fastscan := 4096
FUZZ_RUN     := ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

$(BUILD)/fuzz_%: $(BUILD)/tests/fuzz/fuzz_%.o $(CLIENT_LIB) $(LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

# the scanner is a pure module: its target links only it (and jansson, the
# oracle)
$(BUILD)/fuzz_fastscan: $(BUILD)/tests/fuzz/fuzz_fastscan.o \
		$(BUILD)/daemon/fastscan.o
	$(CC) $(CFLAGS) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ \
		$(shell pkg-config --libs jansson 2>/dev/null)

.PHONY: fuzz fuzz-build
fuzz-build:
	@.ci/deps clang libclang-rt-14-dev
	$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=clang \
		OPT="-O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link $(FUZZ_SAN)" \
		LDFLAGS="$(FUZZ_SAN)" $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)

fuzz-run-%:
	@mkdir -p $(FUZZ_BUILD)/corpus/$*
	$(FUZZ_RUN) $(FUZZ_BUILD)/fuzz_$* -max_total_time=$(FUZZ_SECONDS) \
		-max_len=$(FUZZ_MAXLEN_$*) -timeout=10 -print_final_stats=1 \
		$(if $(wildcard tests/fuzz/$*.dict),-dict=tests/fuzz/$*.dict) \
		-artifact_prefix=$(FUZZ_BUILD)/ \
		$(FUZZ_BUILD)/corpus/$* tests/fuzz/corpus/$*

fuzz: fuzz-build
	@for t in $(FUZZ_TARGETS); do \
		$(MAKE) --no-print-directory FUZZ_BUILD=$(FUZZ_BUILD) \
			FUZZ_SECONDS=$(FUZZ_SECONDS) fuzz-run-$$t || exit 1; \
	done
# ---- end fuzz ----------------------------------------------------------------

# ---- svcd under a real systemd (tests/systemd/run.sh; docs/testing.md) -----
# Boots systemd as PID 1 in namespaces on an overlay of /, installs this
# build into it and drives the shipped units. Needs root and namespaces:
# without them it prints "skipped: ..." and succeeds.
.PHONY: check-systemd
check-systemd: all lib
	@BUILD=$(BUILD) tests/systemd/run.sh

# ---- stress and fault suite (tests/stress, docs/testing.md) ----------------
# make check-stress [STRESS=quick]: the real svcd under load and abuse,
# driven by tests/stress/hammer (a small C client) and socat; STRESS=quick
# scales every case down (the whole part < 2 minutes, for CI).
HAMMER := $(BUILD)/tests/hammer
STRESS_T := $(sort $(wildcard tests/stress/s_*.sh))
$(HAMMER): $(BUILD)/tests/stress/hammer.o
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

.PHONY: check-stress
check-stress: $(SVCD) $(SVCCTL) $(HAMMER)
	@rm -f $(BUILD)/stress-figures.txt; rc=0; \
	STRESS=$(STRESS) SVCD_SANITIZED=$(SVCD_SANITIZED) \
		STRESS_LOG=$(abspath $(BUILD)/stress-figures.txt) \
		SVCD=$(abspath $(SVCD)) SVCCTL=$(abspath $(SVCCTL)) \
		HAMMER=$(abspath $(HAMMER)) tests/integration/run.sh $(STRESS_T) || rc=$$?; \
	echo "--- figures ($(BUILD)/stress-figures.txt) ---"; \
	cat $(BUILD)/stress-figures.txt 2>/dev/null; exit $$rc
# ---- end of the stress suite block ------------------------------------------

# ---- bench (tests/bench, docs/performance.md) -------------------------------
# Not a test: timing figures. The tools go to $(BUILD)/bench.
BENCH_BIN   := $(BUILD)/bench
BENCH_TOOLS := $(addprefix $(BENCH_BIN)/,loadgen echo sub latprobe spawnready \
               fsync_floor store_floor httprecv acklistener)
.PHONY: bench
$(BENCH_BIN)/%: tests/bench/%.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE -O2 -g $(WARN) -o $@ $< -lev
bench: all $(BENCH_TOOLS)
	BENCH_BIN=$(BENCH_BIN) SVCD=$(SVCD) sh tests/bench/run.sh
	case " $$BENCH_SKIP " in *" durable "*) ;; *) BENCH_BIN=$(BENCH_BIN) \
		SVCD=$(SVCD) SVCCTL=$(BUILD)/svcctl sh tests/bench/durable.sh ;; esac
	case " $$BENCH_SKIP " in *" hooks "*) ;; *) BENCH_BIN=$(BENCH_BIN) \
		SVCD=$(SVCD) SVCCTL=$(SVCCTL) bash tests/bench/hooks.sh ;; esac
# the bridge bench's load (tests/bench/bridge.sh): hiredis for raw Redis
$(BENCH_BIN)/xbench: tests/bench/xbench.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE -O2 -g $(WARN) -o $@ $< -lhiredis
# what an embedded store alone costs a durable event (tests/bench/durable.sh):
# SQLite, and LMDB and RocksDB when their headers are there (.ci/deps bench)
STORE_LIBS := -lsqlite3 $(if $(wildcard /usr/include/lmdb.h),-llmdb) \
              $(if $(wildcard /usr/include/rocksdb/c.h),-lrocksdb)
$(BENCH_BIN)/store_floor: tests/bench/store_floor.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE -O2 -g $(WARN) -o $@ $< $(STORE_LIBS)
# the tools alone, built as the bench builds them (.ci/run: they do not rot)
.PHONY: bench-tools
bench-tools: $(BENCH_TOOLS) $(BENCH_BIN)/xbench
# ---- end bench ---------------------------------------------------------------

# ---- mutants (tests/mutants, docs/testing.md "Mutation testing") ----------
# make mutants [MUTANTS="ID ..."]: plant each mutant of tests/mutants/
# mutants.txt in a copy of the tree, one at a time, run the tests that
# should kill it, report killed/survived/stale and the kill rate. The
# working tree is never modified. MUTANTS_FULL=1: `make check` per mutant.
.PHONY: mutants
mutants:
	@tests/mutants/run.sh $(MUTANTS)
# ---- end mutants -------------------------------------------------------------

valgrind:
	$(MAKE) BUILD=build/valgrind OPT="-O1 -g" $(BUILD)/valgrind/svcd
	$(MAKE) BUILD=build/valgrind OPT="-O1 -g" CK_FORK=no \
		UNIT_RUNNER="valgrind -q --error-exitcode=99 --leak-check=full \
		--show-leak-kinds=definite,indirect,possible --errors-for-leak-kinds=definite,indirect,possible" unit

FORMAT_SRC = $(wildcard daemon/*.[ch] services/*.[ch] client/*.[ch] tests/unit/*.[ch] tests/bench/*.c tests/fuzz/*.c examples/*.[ch])
format:
	clang-format -i $(FORMAT_SRC)

check-format:
	clang-format --dry-run --Werror $(FORMAT_SRC)

# cppcheck, then the include rule of the layers (tests/lint/layers.sh;
# docs/architecture.md) and the layer spelling of every include.
lint:
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
		--inline-suppr --suppress=missingIncludeSystem --suppress=unknownMacro -I. \
		daemon services client
	@tests/lint/layers.sh
	@tests/lint/layer-includes.sh >/dev/null || { tests/lint/layer-includes.sh; \
		echo "lint: spell these includes with their directory (tests/lint/layer-includes.sh --fix)"; exit 1; }

UNITDIR    ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
COMPLDIR   ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR ?= $(PREFIX)/share/zsh/site-functions
FISHCOMPDIR ?= $(PREFIX)/share/fish/vendor_completions.d
# Opt-in drop-ins for svcd.service (docs/operations.md, "Drop-ins"): shipped
# here, active only once linked into /etc/systemd/system/svcd.service.d/.
DROPINDIR  ?= $(PREFIX)/share/svcd/dropins
DROPINS    := systemd/network.conf systemd/jit.conf
MANPAGES   := docs/man/svcd.8 docs/man/svcctl.1 docs/man/svcd.conf.5

# The installed file list is checked by tests/integration/t_install.sh.
install: all install-dev
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(COMPLDIR) \
		$(DESTDIR)$(ZSHCOMPDIR) $(DESTDIR)$(FISHCOMPDIR) \
		$(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(SYSCONFDIR)/svcd \
		$(DESTDIR)$(DROPINDIR)
	install -m 0755 $(SVCD) $(DESTDIR)$(SBINDIR)/svcd
	install -m 0755 $(SVCCTL) $(DESTDIR)$(BINDIR)/svcctl
	sed 's|@SBINDIR@|$(SBINDIR)|g; s|/etc/svcd/|$(SYSCONFDIR)/svcd/|g' \
		systemd/svcd.service >$(DESTDIR)$(UNITDIR)/svcd.service
	install -m 0644 systemd/svcd.socket $(DESTDIR)$(UNITDIR)/svcd.socket
	install -m 0644 systemd/svcd.sysusers $(DESTDIR)$(SYSUSERSDIR)/svcd.conf
	install -m 0644 $(DROPINS) $(DESTDIR)$(DROPINDIR)/
	install -m 0644 client/svcctl.bash $(DESTDIR)$(COMPLDIR)/svcctl
	install -m 0644 client/svcctl.zsh $(DESTDIR)$(ZSHCOMPDIR)/_svcctl
	install -m 0644 client/svcctl.fish $(DESTDIR)$(FISHCOMPDIR)/svcctl.fish
	install -m 0644 docs/man/svcctl.1 $(DESTDIR)$(MANDIR)/man1/svcctl.1
	install -m 0644 docs/man/svcd.conf.5 $(DESTDIR)$(MANDIR)/man5/svcd.conf.5
	install -m 0644 docs/man/svcd.8 $(DESTDIR)$(MANDIR)/man8/svcd.8
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/svcd/svcd.conf ]; then \
		echo "keeping existing $(DESTDIR)$(SYSCONFDIR)/svcd/svcd.conf"; \
	else \
		install -m 0644 conf/svcd.conf $(DESTDIR)$(SYSCONFDIR)/svcd/svcd.conf; \
	fi

# For developers (docs/framework.md, "Building your own daemon"): the
# library, its public headers and svcd.pc.
install-dev: lib
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR) \
		$(sort $(dir $(DIST_HDRS:$(DIST_INC)/%=$(DESTDIR)$(INCLUDEDIR)/svcd/%)))
	install -m 0755 $(DIST_SO) $(DESTDIR)$(LIBDIR)/libsvcd.so.$(VERSION)
	ln -sf libsvcd.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libsvcd.so
	install -m 0644 $(DIST_A) $(DESTDIR)$(LIBDIR)/libsvcd.a
	install -m 0644 $(DIST_PC) $(DESTDIR)$(PKGCONFIGDIR)/svcd.pc
	@for h in $(DIST_HDRS:$(DIST_INC)/%=%); do \
		echo "install -m 0644 $(DIST_INC)/$$h $(DESTDIR)$(INCLUDEDIR)/svcd/$$h"; \
		install -m 0644 $(DIST_INC)/$$h $(DESTDIR)$(INCLUDEDIR)/svcd/$$h || exit 1; \
	done

uninstall-dev:
	rm -f $(DESTDIR)$(LIBDIR)/libsvcd.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME) \
		$(DESTDIR)$(LIBDIR)/libsvcd.so $(DESTDIR)$(LIBDIR)/libsvcd.a \
		$(DESTDIR)$(PKGCONFIGDIR)/svcd.pc
	rm -rf $(DESTDIR)$(INCLUDEDIR)/svcd

# Man pages are generated from docs/*.md with pandoc (a maintainer tool, not
# a build dependency): run `make man` after editing the docs and commit both.
# Tables become tbl(1) tables (docs/man/man.lua); the pages start with the
# '\" t line that tells man(1) to run tbl. svcd.8 is written by hand.
MANDATE := $(shell date -u +%Y-%m-%d)
man:
	@command -v pandoc >/dev/null || \
		{ echo "make man needs pandoc (apt-get install pandoc)"; exit 1; }
	pandoc -s -t man --lua-filter=docs/man/man.lua --shift-heading-level-by=-1 -M title=SVCCTL -M section=1 \
		-M header="User Commands" -M footer="svcd $(VERSION)" -M date=$(MANDATE) \
		docs/svcctl.md | sed "1i '\\\\\" t" >docs/man/svcctl.1
	pandoc -s -t man --lua-filter=docs/man/man.lua --shift-heading-level-by=-1 -M title=SVCD.CONF -M section=5 \
		-M header="File Formats" -M footer="svcd $(VERSION)" -M date=$(MANDATE) \
		docs/configuration.md | sed "1i '\\\\\" t" >docs/man/svcd.conf.5
	@! grep -n '\.md\b\|docs/' docs/man/svcctl.1 docs/man/svcd.conf.5 || \
		{ echo "a man page names a document that is not installed"; exit 1; }

# The configuration file is left in place: it may hold local changes.
uninstall: uninstall-dev
	rm -f $(DESTDIR)$(SBINDIR)/svcd $(DESTDIR)$(BINDIR)/svcctl \
		$(DESTDIR)$(UNITDIR)/svcd.service $(DESTDIR)$(UNITDIR)/svcd.socket \
		$(DESTDIR)$(SYSUSERSDIR)/svcd.conf $(DESTDIR)$(COMPLDIR)/svcctl \
		$(DESTDIR)$(ZSHCOMPDIR)/_svcctl $(DESTDIR)$(FISHCOMPDIR)/svcctl.fish \
		$(DESTDIR)$(MANDIR)/man1/svcctl.1 $(DESTDIR)$(MANDIR)/man5/svcd.conf.5 \
		$(DESTDIR)$(MANDIR)/man8/svcd.8 \
		$(DROPINS:systemd/%=$(DESTDIR)$(DROPINDIR)/%)
	rmdir $(DESTDIR)$(DROPINDIR) $(DESTDIR)$(PREFIX)/share/svcd 2>/dev/null || true

clean:
	rm -rf build run

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
