package resource

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// DefaultNamespace is the namespace of an object whose manifest has none, as
// `kubectl apply` would give it without a context namespace.
const DefaultNamespace = "default"

// DefaultMaxFileBytes bounds one file, so that a stray archive or log in the
// watched directory cannot exhaust memory.
const DefaultMaxFileBytes = 16 << 20

// Options tune Load. The zero value is ready to use.
type Options struct {
	// DefaultNamespace replaces an empty metadata.namespace of namespaced
	// kinds; "" means DefaultNamespace.
	DefaultNamespace string
	// MaxFileBytes rejects larger files; 0 means DefaultMaxFileBytes.
	MaxFileBytes int64
	// IgnoreUnknownKinds skips documents of kinds ksgw does not read
	// (Deployments, say) instead of reporting them.
	IgnoreUnknownKinds bool
}

// LoadError is one problem with one document (or one file, when Doc is 0).
// It disables only the object it names; the rest of the bundle loads.
type LoadError struct {
	File      string // slash-separated, relative to the loaded root
	Doc       int    // 1-based index of the document in File; 0: the whole file
	Kind      string // "" when the document's kind could not be read
	Namespace string
	Name      string
	Field     string // JSON path inside the object, e.g. spec.http[0].rout
	Err       error
}

func (e LoadError) Error() string {
	var b strings.Builder
	b.WriteString("file ")
	b.WriteString(e.File)
	if e.Doc > 0 {
		fmt.Fprintf(&b, " doc %d", e.Doc)
	}
	b.WriteString(": ")
	if e.Kind != "" {
		b.WriteString(e.Kind)
		if e.Name != "" {
			b.WriteByte(' ')
			if e.Namespace != "" {
				b.WriteString(e.Namespace)
				b.WriteByte('/')
			}
			b.WriteString(e.Name)
		}
		b.WriteString(": ")
	}
	msg := "<nil>"
	if e.Err != nil {
		msg = e.Err.Error()
	}
	if e.Field != "" && !strings.Contains(msg, e.Field) {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(msg)
	return b.String()
}

func (e LoadError) Unwrap() error { return e.Err }

// ErrDuplicate is wrapped by the LoadError of an object defined twice.
var ErrDuplicate = errors.New("duplicate object")

// ErrUnknownKind is wrapped by the LoadError of a document whose
// apiVersion/kind ksgw does not read.
var ErrUnknownKind = errors.New("unsupported kind")

// LoadDir is Load over a directory of the local file system.
func LoadDir(dir string, opts Options) (*Resources, []LoadError) {
	return Load(os.DirFS(dir), opts)
}

// Load reads every *.yaml, *.yml and *.json file under fsys, recursively,
// and decodes each document strictly, as the API server does with
// fieldValidation=Strict: unknown and duplicate fields are errors naming the
// field, and a document with an error is left out. A malformed document or
// file never stops the others from loading.
//
// Files and directories whose name starts with "." are skipped: editors'
// swap files, and a Kubernetes ConfigMap volume's "..data" symlink and
// "..<timestamp>" directories, which would otherwise load every file twice.
// Symbolic links to files are followed; links to directories are not
// descended into (os.DirFS, fs.WalkDir), which also rules out cycles.
//
// Objects are visited in lexical order of their slash-separated file path,
// then document order; when the same kind, namespace and name appears twice,
// the first is kept and the second is reported. The bundle is sorted.
func Load(fsys fs.FS, opts Options) (*Resources, []LoadError) {
	return LoadCached(fsys, opts, nil)
}

// LoadCached is Load with a cache of decoded files: a file whose bytes are
// those of the previous load is not decoded again (decoding is most of the
// cost of a load; at 10k Routes it dominated the time from a file change to
// the new route answering). A nil cache decodes everything. The cache must
// be used with the same fsys root and opts every time, by one goroutine.
//
// Cached objects are shared by the bundles of successive loads, which the
// immutability of bundles (see Resources) makes safe.
func LoadCached(fsys fs.FS, opts Options, cache *Cache) (*Resources, []LoadError) {
	if opts.DefaultNamespace == "" {
		opts.DefaultNamespace = DefaultNamespace
	}
	if opts.MaxFileBytes <= 0 {
		opts.MaxFileBytes = DefaultMaxFileBytes
	}
	l := &loader{opts: opts, res: &Resources{}, seen: map[objectKey]string{}}
	var files []string
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			l.errs = append(l.errs, LoadError{File: p, Err: err})
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if p != "." && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if !d.IsDir() && isManifest(d.Name()) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		l.errs = append(l.errs, LoadError{File: ".", Err: err})
	}
	slices.Sort(files)
	digest := sha256.New()
	for _, f := range files {
		data, err := readFileLimited(fsys, f, l.opts.MaxFileBytes)
		if err != nil {
			l.errs = append(l.errs, LoadError{File: f, Err: err})
			fmt.Fprintf(digest, "%q error %q\n", f, err.Error())
			continue
		}
		sum := sha256.Sum256(data)
		fmt.Fprintf(digest, "%q %x\n", f, sum)
		var entries []entry
		if c, ok := cache.get(f, sum); ok {
			entries = c
		} else {
			entries = l.decodeFile(f, data)
			cache.put(f, sum, entries)
		}
		l.register(f, entries)
	}
	cache.finish(hex.EncodeToString(digest.Sum(nil)), l.contentHash())
	l.res.Sort()
	return l.res, l.errs
}

// Cache keeps the decoded documents of each file between loads (LoadCached).
// The zero value is ready to use.
type Cache struct {
	files   map[string]cachedFile
	seen    map[string]bool // files of the current load
	digest  string
	content string
}

type cachedFile struct {
	sum     [sha256.Size]byte
	entries []entry
}

// Digest identifies the content of the last load: the path and SHA-256 of
// every file read, in order. Equal digests mean equal bundles and errors
// (a load is a function of the files' paths and bytes and of its options).
func (c *Cache) Digest() string { return c.digest }

// ContentHash identifies the bundle and errors of the last load by content:
// equal objects and errors hash the same whatever the files' layout or
// formatting.
func (c *Cache) ContentHash() string { return c.content }

func (c *Cache) get(file string, sum [sha256.Size]byte) ([]entry, bool) {
	if c == nil {
		return nil, false
	}
	if c.seen == nil {
		c.seen = map[string]bool{}
	}
	c.seen[file] = true
	cf, ok := c.files[file]
	if !ok || cf.sum != sum {
		return nil, false
	}
	return cf.entries, true
}

func (c *Cache) put(file string, sum [sha256.Size]byte, entries []entry) {
	if c == nil {
		return
	}
	if c.files == nil {
		c.files = map[string]cachedFile{}
	}
	c.files[file] = cachedFile{sum: sum, entries: entries}
}

// finish drops the files that are gone, so that the cache holds only what
// the directory holds.
func (c *Cache) finish(digest, content string) {
	if c == nil {
		return
	}
	for f := range c.files {
		if !c.seen[f] {
			delete(c.files, f)
		}
	}
	clear(c.seen)
	c.digest, c.content = digest, content
}

func isManifest(name string) bool {
	switch strings.ToLower(path.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// objectKey identifies an object for duplicate detection.
type objectKey struct {
	gk        schema.GroupKind
	namespace string
	name      string
}

// loader holds the state of one Load call; it is not shared.
type loader struct {
	opts Options
	res  *Resources
	errs []LoadError
	seen map[objectKey]string // → "file F doc N" of the first definition
	sums []keyedSum           // of the objects added, for ContentHash
}

type keyedSum struct {
	key string
	sum [sha256.Size]byte
}

// contentHash digests the objects (by key, in key order) and the errors:
// reformatted YAML, reordered documents or files moved around hash the same.
func (l *loader) contentHash() string {
	slices.SortFunc(l.sums, func(a, b keyedSum) int { return strings.Compare(a.key, b.key) })
	h := sha256.New()
	for _, s := range l.sums {
		fmt.Fprintf(h, "%q %x\n", s.key, s.sum)
	}
	for _, e := range l.errs {
		fmt.Fprintf(h, "error %q\n", e.Error())
	}
	return hex.EncodeToString(h.Sum(nil))
}

// entry is what one document (or one item of a List) of a file yields:
// an object ready to add, or a problem. Entries depend only on the file's
// bytes and the load options, so they can be cached per file; what depends
// on other files (duplicates) is decided by register.
type entry struct {
	err  *LoadError
	doc  int
	h    header
	key  objectKey
	kind string
	add  func(*Resources)
	// sum is the SHA-256 of the decoded object's JSON, for ContentHash.
	sum [sha256.Size]byte
}

func (l *loader) decodeFile(name string, data []byte) []entry {
	var out []entry
	for i, doc := range splitDocuments(data) {
		if doc.err != nil {
			out = append(out, entry{err: &LoadError{File: name, Doc: i + 1, Err: doc.err}})
			continue
		}
		out = l.decodeDocument(out, name, i+1, doc.json, false)
	}
	return out
}

// register adds a file's entries to the bundle, in order; the first
// definition of an object wins and later ones are reported.
func (l *loader) register(file string, entries []entry) {
	for _, e := range entries {
		if e.err != nil {
			l.errs = append(l.errs, *e.err)
			continue
		}
		if first, dup := l.seen[e.key]; dup {
			l.errs = append(l.errs, LoadError{File: file, Doc: e.doc, Kind: e.h.Kind, Namespace: e.h.Metadata.Namespace, Name: e.h.Metadata.Name,
				Err: fmt.Errorf("%w: already defined in %s", ErrDuplicate, first)})
			continue
		}
		l.seen[e.key] = fmt.Sprintf("file %s doc %d", file, e.doc)
		if l.res.Origins == nil {
			l.res.Origins = map[string]string{}
		}
		k := ObjectKey(e.kind, e.key.namespace, e.key.name)
		l.res.Origins[k] = file
		l.sums = append(l.sums, keyedSum{k, e.sum})
		e.add(l.res)
	}
}

func readFileLimited(fsys fs.FS, name string, limit int64) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("file larger than %d bytes", limit)
	}
	return data, nil
}

type document struct {
	json []byte
	err  error
}

// splitDocuments splits a YAML stream on "---" lines, with the rule of
// k8s.io/apimachinery's YAMLReader (a line starting with "---" followed by
// nothing but blanks or a comment), and converts each document to JSON,
// rejecting duplicate keys. It splits by itself to know where each document
// starts, so that YAML errors cite lines of the file, not of the document.
// Documents that are empty or hold only comments are dropped and not
// counted, so "doc N" is the Nth document a reader sees.
func splitDocuments(data []byte) []document {
	var docs []document
	emit := func(raw []byte, firstLine int) {
		j, err := yaml.YAMLToJSONStrict(raw)
		if err != nil {
			docs = append(docs, document{err: yamlError(err, firstLine-1)})
			return
		}
		if t := bytes.TrimSpace(j); len(t) == 0 || bytes.Equal(t, []byte("null")) {
			return
		}
		docs = append(docs, document{json: j})
	}
	start, startLine, line := 0, 1, 1
	for off := 0; off < len(data); line++ {
		end := bytes.IndexByte(data[off:], '\n')
		next := len(data)
		if end >= 0 {
			next = off + end + 1
		}
		if isSeparator(data[off:next]) {
			emit(data[start:off], startLine)
			start, startLine = next, line+1
		}
		off = next
	}
	emit(data[start:], startLine)
	return docs
}

func isSeparator(line []byte) bool {
	rest, ok := bytes.CutPrefix(line, []byte("---"))
	if !ok {
		return false
	}
	rest = bytes.TrimSpace(rest)
	return len(rest) == 0 || rest[0] == '#'
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

// yamlError drops the prefixes sigs.k8s.io/yaml stacks up, puts a multi-line
// message on one line and shifts line numbers from the document to the file.
func yamlError(err error, lineOffset int) error {
	msg := err.Error()
	for _, p := range []string{"error converting YAML to JSON: ", "yaml: ", "unmarshal errors:\n  "} {
		msg = strings.TrimPrefix(msg, p)
	}
	msg = strings.ReplaceAll(msg, "\n  ", "; ")
	msg = yamlLine.ReplaceAllStringFunc(msg, func(m string) string {
		n, _ := strconv.Atoi(m[len("line "):])
		return "line " + strconv.Itoa(n+lineOffset)
	})
	return fmt.Errorf("invalid YAML: %s", msg)
}

// header is the part of any object read before its kind is known. Fields are
// loose (RawMessage) so that a malformed metadata is reported by the strict
// typed decode, with its path, rather than here.
type header struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
}

func (l *loader) decodeDocument(out []entry, file string, doc int, j []byte, inList bool) []entry {
	fail := func(h header, field string, err error) {
		out = append(out, entry{err: &LoadError{File: file, Doc: doc, Kind: h.Kind, Namespace: h.Metadata.Namespace, Name: h.Metadata.Name, Field: field, Err: err}})
	}
	var h header
	if err := kjson.UnmarshalCaseSensitivePreserveInts(j, &h); err != nil {
		// The shape is wrong (not an object, or a non-string kind); keep
		// whatever could be read for the message.
		var loose map[string]any
		if kjson.UnmarshalCaseSensitivePreserveInts(j, &loose) != nil {
			fail(header{}, "", errors.New("document is not an object"))
			return out
		}
		h.Kind, _ = loose["kind"].(string)
		field, err := typeError(err)
		fail(h, field, err)
		return out
	}
	if h.APIVersion == "" || h.Kind == "" {
		fail(h, "", errors.New("apiVersion and kind are required"))
		return out
	}
	gv, err := schema.ParseGroupVersion(h.APIVersion)
	if err != nil {
		fail(h, "apiVersion", err)
		return out
	}
	gvk := gv.WithKind(h.Kind)
	if gvk == listGVK {
		if inList {
			fail(h, "", errors.New("a List inside a List is not supported"))
			return out
		}
		return l.decodeList(out, file, doc, j)
	}
	newObj, ok := kinds[gvk]
	if !ok {
		if !l.opts.IgnoreUnknownKinds {
			fail(h, "", fmt.Errorf("%w %s", ErrUnknownKind, describeGVK(gvk)))
		}
		return out
	}
	obj, add := newObj()
	strictErrs, err := kjson.UnmarshalStrict(j, obj)
	if err != nil {
		field, err := typeError(err)
		fail(h, field, err)
		return out
	}
	if len(strictErrs) > 0 {
		for _, e := range strictErrs {
			fail(h, fieldOf(e), e)
		}
		return out
	}
	meta := obj.(metav1.Object)
	if clusterScoped[gvk.GroupKind()] {
		meta.SetNamespace("")
	} else if meta.GetNamespace() == "" {
		meta.SetNamespace(l.opts.DefaultNamespace)
	}
	h.Metadata.Namespace = meta.GetNamespace()
	if errs := validateMeta(meta, !clusterScoped[gvk.GroupKind()]); len(errs) > 0 {
		for _, e := range errs {
			fail(h, e.field, e.err)
		}
		return out
	}
	key := objectKey{gk: gvk.GroupKind(), namespace: meta.GetNamespace(), name: meta.GetName()}
	// Defaulting here, before the object can be cached and shared, keeps
	// shared objects unmodified after decoding.
	if d, ok := obj.(interface{ Default() }); ok {
		d.Default()
	}
	e := entry{doc: doc, h: h, key: key, kind: gvk.Kind, add: add}
	if b, err := json.Marshal(obj); err == nil {
		e.sum = sha256.Sum256(b)
	} else {
		e.sum = sha256.Sum256(j) // cannot happen for decoded API types
	}
	return append(out, e)
}

// decodeList decodes the items of a kubectl "v1 List" (`kubectl get -o yaml`
// output) as if each were its own document; their errors carry the List's
// document number and the item's own kind and name.
func (l *loader) decodeList(out []entry, file string, doc int, j []byte) []entry {
	var ls struct {
		APIVersion string            `json:"apiVersion"`
		Kind       string            `json:"kind"`
		Metadata   json.RawMessage   `json:"metadata,omitempty"`
		Items      []json.RawMessage `json:"items"`
	}
	strictErrs, err := kjson.UnmarshalStrict(j, &ls)
	if err == nil && len(strictErrs) > 0 {
		err = errors.Join(strictErrs...)
	}
	if err != nil {
		return append(out, entry{err: &LoadError{File: file, Doc: doc, Kind: "List", Field: fieldOf(err), Err: err}})
	}
	for _, item := range ls.Items {
		out = l.decodeDocument(out, file, doc, item, true)
	}
	return out
}

func describeGVK(gvk schema.GroupVersionKind) string {
	return gvk.GroupVersion().String() + " " + gvk.Kind
}

// goTypeError matches encoding/json's UnmarshalTypeError message, whose
// "Go struct field" is the Go type name followed by the JSON path.
var goTypeError = regexp.MustCompile(`^json: cannot unmarshal (.+) into Go struct field [^.]*\.(\S+) of type (\S+)$`)

// typeError rewrites a decode error in terms of the manifest: the JSON path
// and the expected type, without Go struct names. The sigs.k8s.io/json type
// error is internal, so its message is the only handle on it.
func typeError(err error) (field string, _ error) {
	m := goTypeError.FindStringSubmatch(err.Error())
	if m == nil {
		return "", err
	}
	return m[2], fmt.Errorf("%s: cannot unmarshal %s into %s", m[2], m[1], m[3])
}

// fieldOf returns the JSON path of a strict or type error, when it has one.
func fieldOf(err error) string {
	var fe kjson.FieldError
	if errors.As(err, &fe) {
		return fe.FieldPath()
	}
	return ""
}
