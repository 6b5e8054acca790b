# lineguard: `make demo` and `make test` set everything up on a fresh Debian / Raspberry Pi OS machine.
PY := .venv/bin/python
DEMO_DIR ?= demo-data

.PHONY: setup demo test lint typecheck model bench clean

setup:
	@bash scripts/setup.sh

# MQTT=mqtt://127.0.0.1:1883 also publishes the demo's events to a running broker.
MQTT ?=
demo: setup
	@$(PY) -m edge demo --data-dir $(DEMO_DIR) $(if $(MQTT),--mqtt $(MQTT))

test: setup lint
	@$(PY) -m pytest -q

lint: setup
	@.venv/bin/ruff format --check edge tests bench central models/pipeline
	@.venv/bin/ruff check edge tests bench central models/pipeline
	@.venv/bin/mypy --strict edge

clean:
	rm -rf $(DEMO_DIR) .pytest_cache .mypy_cache .ruff_cache

bench-record: setup
	@nice -n 10 $(PY) bench/bench_record.py

# Keyword-spotter training (issue 4): SCALE=0.05 for a quick smoke run; needs no GPU.
SCALE ?= 1
model:
	@$(MAKE) -C models SCALE=$(SCALE)

bench-kws: setup
	@nice -n 10 $(PY) bench/bench_kws.py

# Raspberry Pi board: tests, bench, and the wheel the image's pi-gen stage installs.
.PHONY: test-pi bench-pi pi-wheel
test-pi: setup
	@$(PY) -m pytest -q tests/test_pi_*.py

bench-pi: setup
	@nice -n 10 $(PY) bench/bench_pi.py

pi-wheel: setup
	@$(PY) -m pip wheel --no-deps -q -w firmware/pi-gen/stage-lineguard/02-app/files .

# Telemetry (issue 6): central receiver + dashboard against a local broker, and the 500-box bench.
BROKER ?= mqtt://127.0.0.1:1883
.PHONY: central bench-mqtt
central: setup
	@.venv/bin/lineguard-central --broker $(BROKER) --db sqlite:///$(DEMO_DIR)/central.db --files $(DEMO_DIR)/central-files

bench-mqtt: setup
	@nice -n 10 $(PY) bench/bench_mqtt_outbox.py
	@nice -n 10 $(PY) bench/bench_mqtt.py --devices 500 --rate 1 3 --seconds 15
	@nice -n 10 $(PY) bench/bench_mqtt.py --devices 500 --rate 1 3 --seconds 15 --tls

# Signal processing (issue 3): detector cost, caller-ID grid, DTMF talk-off on an hour of speech.
.PHONY: bench-dsp
bench-dsp: setup
	@nice -n 10 $(PY) bench/bench_dsp.py cost
	@nice -n 10 $(PY) bench/bench_dsp.py callerid --trials 6
	@nice -n 10 $(PY) bench/bench_dsp.py talkoff --minutes 60

# Whole appliance (issue 9): soak on the sim backend (CALLS=N; SOAK_REALTIME=3600 for the real-time hour),
# and the whole pipeline's CPU cost per line.
CALLS ?= 300
SOAK_REALTIME ?=
.PHONY: soak bench-pipeline
soak: setup
	@nice -n 10 $(PY) bench/soak.py $(if $(SOAK_REALTIME),--realtime $(SOAK_REALTIME),--calls $(CALLS))

bench-pipeline: setup
	@nice -n 10 $(PY) bench/bench_pipeline.py

# Fault matrix and fuzzing (issue 9): every fault row, kill -9 at four points; `make test` runs the short forms.
.PHONY: faults
faults: setup
	@LINEGUARD_FAULTS_FULL=1 nice -n 10 $(PY) -m pytest -q tests/test_faults_matrix.py tests/test_fuzz_parsers.py \
		tests/test_record_crash.py tests/test_record_diskfull.py tests/test_record_verify.py \
		tests/test_telemetry_delivery.py tests/test_telemetry_outbox.py tests/test_detect_safemode.py \
		tests/test_console_fuzz.py tests/test_dsp_fuzz.py tests/test_daemon.py
