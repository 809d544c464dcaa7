package droneyaml

import "testing"

func TestStepRuns(t *testing.T) {
	tests := []struct {
		name string
		when map[string]any
		b    Build
		want bool
	}{
		{"no when, success", nil, Build{Status: "success"}, true},
		{"no when, failure", nil, Build{Status: "failure"}, false},
		{"status failure on failure", map[string]any{"status": []any{"failure"}}, Build{Status: "failure"}, true},
		{"status failure on success", map[string]any{"status": []any{"failure"}}, Build{Status: "success"}, false},
		{"branch match", map[string]any{"branch": "develop"}, Build{Branch: "develop", Status: "success"}, true},
		{"branch miss", map[string]any{"branch": "develop"}, Build{Branch: "main", Status: "success"}, false},
		{"branch glob", map[string]any{"branch": []any{"release/*"}}, Build{Branch: "release/1.0", Status: "success"}, true},
		{"branch exclude", map[string]any{"branch": map[string]any{"exclude": []any{"main"}}}, Build{Branch: "main", Status: "success"}, false},
		{"event include", map[string]any{"event": map[string]any{"include": "tag"}}, Build{Event: "tag", Status: "success"}, true},
		{"event miss", map[string]any{"event": []any{"tag"}}, Build{Event: "push", Status: "success"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := (Step{When: tt.when}).Runs(tt.b); got != tt.want {
				t.Fatalf("Runs = %v, want %v", got, tt.want)
			}
		})
	}
}
