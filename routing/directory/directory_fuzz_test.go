package directory

import (
	"strings"
	"testing"
)

// FuzzParseCustomers feeds arbitrary customer files (YAML and CSV) to the
// directory loader: it must never panic (the loader wraps its errors with
// the file's path); every customer loaded is filed under a normalised
// number.
func FuzzParseCustomers(f *testing.F) {
	f.Add("customers.yaml", customersYAML)
	f.Add("customers.csv", customersCSV)
	f.Add("x.yaml", "customers:\n  - {id: A, number: '0912345678', segment: loyal}\n")
	f.Add("x.csv", "id,number\nA,0912345678\n")
	f.Add("x.csv", "id,number,calls\nA,\"09\n12\",x\n")
	f.Fuzz(func(t *testing.T, name, data string) {
		if !strings.HasSuffix(name, ".csv") {
			name = "customers.yaml"
		} else {
			name = "customers.csv"
		}
		got, err := parseCustomers(name, []byte(data), "84")
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		for number, c := range got {
			if number == "" || NormalizeNumber(number, "84") != number {
				t.Fatalf("customer %+v filed under %q, not a normalised number", c, number)
			}
		}
	})
}
