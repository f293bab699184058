package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
)

// openAPI is the part of an OpenAPI document the tests read.
type openAPI struct {
	OpenAPI    string                                `json:"openapi"`
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Schemas map[string]schema `json:"schemas"`
	} `json:"components"`
}

type schema struct {
	Ref        string            `json:"$ref"`
	Type       string            `json:"type"`
	Items      *schema           `json:"items"`
	Properties map[string]schema `json:"properties"`
	Required   []string          `json:"required"`
	Enum       []string          `json:"enum"`
}

type operation struct {
	Responses map[string]struct {
		Content map[string]struct {
			Schema schema `json:"schema"`
		} `json:"content"`
	} `json:"responses"`
}

func loadDoc(t *testing.T) openAPI {
	t.Helper()
	var doc openAPI
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil {
		t.Fatalf("api/openapi.json is not JSON: %v", err)
	}
	return doc
}

// docPath is a route's path as OpenAPI writes it ({key...} -> {key}).
func docPath(p string) string { return strings.ReplaceAll(p, "...}", "}") }

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// TestOpenAPIMatchesRoutes: every route the API serves is described in
// api/openapi.json and every operation described there is served.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	doc := loadDoc(t)
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("api/openapi.json: openapi %q, want 3.1.0", doc.OpenAPI)
	}
	s := New(Config{Listen: "127.0.0.1:0"}, Deps{})
	served := map[string]bool{}
	for _, rt := range s.table {
		key := rt.method + " " + docPath(rt.path)
		if served[key] {
			t.Errorf("route %s is registered twice in routes() (api/routes.go)", key)
		}
		served[key] = true
		ops, ok := doc.Paths[docPath(rt.path)]
		if _, has := ops[strings.ToLower(rt.method)]; !ok || !has {
			t.Errorf("route %s is served (routes() in api/routes.go) but api/openapi.json does not describe it: add %q under paths[%q]",
				key, strings.ToLower(rt.method), docPath(rt.path))
		}
	}
	for p, ops := range doc.Paths {
		for m := range ops {
			if !slices.Contains(httpMethods, m) {
				continue // parameters, summary...
			}
			if key := strings.ToUpper(m) + " " + p; !served[key] {
				t.Errorf("api/openapi.json describes %s (paths[%q].%s) but no route serves it: add it to routes() in api/routes.go or remove it from the document",
					key, p, m)
			}
		}
	}
}

// TestOpenAPISchemasMatchTypes: the 200 answer of each route is described
// by the schema named after the Go type it answers with, and that schema
// lists exactly the type's JSON fields, requiring those always present.
func TestOpenAPISchemasMatchTypes(t *testing.T) {
	doc := loadDoc(t)
	s := New(Config{Listen: "127.0.0.1:0"}, Deps{})
	for _, rt := range s.table {
		if rt.answer == nil {
			continue
		}
		key := rt.method + " " + docPath(rt.path)
		raw, ok := doc.Paths[docPath(rt.path)][strings.ToLower(rt.method)]
		if !ok {
			continue // TestOpenAPIMatchesRoutes says so
		}
		var op operation
		if err := json.Unmarshal(raw, &op); err != nil {
			t.Errorf("api/openapi.json, %s: %v", key, err)
			continue
		}
		typ := reflect.TypeOf(rt.answer)
		got := op.Responses["200"].Content["application/json"].Schema
		want := "#/components/schemas/" + typ.Name()
		if typ.Kind() == reflect.Slice {
			typ = typ.Elem()
			want = "#/components/schemas/" + typ.Name()
			if got.Type != "array" || got.Items == nil || got.Items.Ref != want {
				t.Errorf("api/openapi.json, %s: the 200 answer's schema must be {\"type\": \"array\", \"items\": {\"$ref\": %q}} (the route answers []%s)", key, want, typ.Name())
				continue
			}
		} else if got.Ref != want {
			t.Errorf("api/openapi.json, %s: the 200 answer's schema is %q, want {\"$ref\": %q} (the route answers %s)", key, got.Ref, want, typ.Name())
			continue
		}
		sc, ok := doc.Components.Schemas[typ.Name()]
		if !ok {
			t.Errorf("api/openapi.json: components.schemas has no %q (answered by %s)", typ.Name(), key)
			continue
		}
		checkSchema(t, typ, sc)
	}
}

// checkSchema compares a struct's JSON fields with a schema's properties.
func checkSchema(t *testing.T, typ reflect.Type, sc schema) {
	t.Helper()
	fields, required := jsonFields(typ)
	var props []string
	for p := range sc.Properties {
		props = append(props, p)
	}
	sort.Strings(props)
	sort.Strings(sc.Required)
	for _, f := range fields {
		if _, ok := sc.Properties[f]; !ok {
			t.Errorf("api/openapi.json: components.schemas.%s has no property %q (a field of api.%s)", typ.Name(), f, typ.Name())
		}
	}
	for _, p := range props {
		if !slices.Contains(fields, p) {
			t.Errorf("api/openapi.json: components.schemas.%s.properties.%s is not a field of api.%s", typ.Name(), p, typ.Name())
		}
	}
	if !slices.Equal(required, sc.Required) {
		t.Errorf("api/openapi.json: components.schemas.%s.required is %q, want %q (the fields of api.%s without omitempty/omitzero)",
			typ.Name(), sc.Required, required, typ.Name())
	}
}

// jsonFields returns a struct's JSON names, and those always encoded.
func jsonFields(typ reflect.Type) (fields, required []string) {
	for i := range typ.NumField() {
		f := typ.Field(i)
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fields = append(fields, name)
		if !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") {
			required = append(required, name)
		}
	}
	sort.Strings(fields)
	sort.Strings(required)
	return fields, required
}

// TestOpenAPIEnums: the error codes and agent states the document lists
// are those the code uses, and the error body is described as it is.
func TestOpenAPIEnums(t *testing.T) {
	doc := loadDoc(t)
	for _, tt := range []struct {
		schema string
		want   []string
		where  string
	}{
		{"ErrorCode", ErrorCodes(), "ErrorCodes() in api/errors.go"},
		{"AgentState", AgentStates(), "AgentStates() in api/types.go"},
	} {
		got := doc.Components.Schemas[tt.schema].Enum
		if !slices.Equal(got, tt.want) {
			t.Errorf("api/openapi.json: components.schemas.%s.enum is %q, want %q (%s)", tt.schema, got, tt.want, tt.where)
		}
	}
	checkSchema(t, reflect.TypeFor[Error](), doc.Components.Schemas["Error"])
	checkSchema(t, reflect.TypeFor[Health](), doc.Components.Schemas["Health"])
}

// TestOpenAPIServed: GET /api/v1/openapi.json serves the document, without
// a token even when tokens are configured.
func TestOpenAPIServed(t *testing.T) {
	s := New(Config{Listen: "127.0.0.1:0", Token: "a-supervisor-token"}, Deps{})
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/openapi.json", nil))
	var doc openAPI
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" || json.Unmarshal(rec.Body.Bytes(), &doc) != nil {
		t.Fatalf("GET /api/v1/openapi.json: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	if len(doc.Paths) == 0 {
		t.Errorf("GET /api/v1/openapi.json: no paths")
	}
}
