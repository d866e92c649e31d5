#!/bin/sh
# Import of generated CSV port tables, 30,000 to 300,000 rows (issue 17:
# import must be linear). Timings are recorded in bench/import-csv.md, not
# asserted. The timed span is the whole `import()`: CSV parsing, table
# cutting, the draft, its YAML and the check that the YAML loads.
set -eu
cd "$(dirname "$0")/.."
cargo run --quiet --release -p portmatrix-import --example import_csv_bench -- "${@:-30000 100000 300000}"
