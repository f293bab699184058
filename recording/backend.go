package recording

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/lifecycle"
)

var (
	// ErrNotFound is returned by Backend.Stat and Open for a missing object.
	ErrNotFound = errors.New("recording: object not found")
	// ErrNoBucket is returned when the s3 bucket does not exist and
	// s3.create_bucket is false.
	ErrNoBucket = errors.New("recording: bucket does not exist")
	// ErrVerify is returned when a stored object does not match its spool
	// file (size or checksum); the spool file is kept and retried.
	ErrVerify = errors.New("recording: stored object does not match the spool file")
	// ErrAccessDenied is returned when the s3 store refuses a request for
	// its credentials (unknown access key, wrong secret key) or for what
	// they are allowed to do.
	ErrAccessDenied = errors.New("recording: s3 access denied: check the credentials (s3.access_key and s3.secret_key, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY) and their rights on the bucket")
)

// PutOptions are what Backend.Put stores with an object.
type PutOptions struct {
	ContentType string
	// Metadata is user metadata (S3 x-amz-meta-*).
	Metadata map[string]string
	// CRC32C is the Castagnoli CRC-32 of the content, for stores that
	// verify and keep checksums.
	CRC32C uint32
}

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	Key         string
	Size        int64
	ContentType string
	// Metadata is the user metadata (keys in lower case), when the store keeps it.
	Metadata map[string]string
	// CRC32C is the object's full-content checksum when HasCRC32C.
	CRC32C    uint32
	HasCRC32C bool
}

// Backend is where finished recordings and their call records are stored.
type Backend interface {
	// Prepare checks that objects can be stored (s3: the bucket exists or
	// is created when allowed).
	Prepare(ctx context.Context) error
	// Put stores size bytes read from r under key, replacing any object.
	Put(ctx context.Context, key string, r io.Reader, size int64, opts PutOptions) error
	// Stat describes the object under key, or returns ErrNotFound.
	Stat(ctx context.Context, key string) (ObjectInfo, error)
	// Open returns the content of the object under key.
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	// URL returns where the object can be fetched: for s3 a pre-signed GET
	// URL valid for expiry, for file a file:// URL.
	URL(ctx context.Context, key string, expiry time.Duration) (string, error)
	// Retain makes objects under prefix expire after lifetime (s3: a
	// bucket lifecycle rule; file: removes files older than lifetime now).
	Retain(ctx context.Context, prefix string, lifetime time.Duration) error
}

// newBackend builds the backend c selects.
func newBackend(c Config) (Backend, error) {
	switch c.Backend {
	case BackendS3:
		return newS3Backend(c.S3)
	case BackendFile:
		return &FileBackend{Dir: c.File.Dir}, nil
	}
	return nil, fmt.Errorf("recording: unknown backend %q", c.Backend)
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// fileCRC32C returns the CRC-32C and size of the file at path.
func fileCRC32C(path string) (uint32, int64, error) {
	f, err := openFile(path, os.O_RDONLY, 0)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	h := crc32.New(castagnoli)
	n, err := io.Copy(h, f)
	if err != nil {
		return 0, 0, err
	}
	return h.Sum32(), n, nil
}

// FileBackend stores objects as files under Dir (the key is the path).
// User metadata is not kept (it is in the call record beside each file).
type FileBackend struct {
	Dir string
}

func (b *FileBackend) path(key string) (string, error) {
	if !filepath.IsLocal(filepath.FromSlash(key)) {
		return "", fmt.Errorf("%w: %q", ErrBadKey, key)
	}
	return filepath.Join(b.Dir, filepath.FromSlash(key)), nil
}

// Prepare creates Dir.
func (b *FileBackend) Prepare(ctx context.Context) error {
	return os.MkdirAll(b.Dir, 0o750)
}

// spoolFile is a finished spool file handed to FileBackend.Put by the
// uploader: it is synced, never written again and removed once stored, so
// the store may take the file itself (a hard link) instead of a copy.
type spoolFile struct{ *os.File }

// Put writes the object to a temporary file, syncs it and renames it into
// place. A spool file (from the uploader) on the store's file system is
// linked into place instead: no new file, no copy, no second fsync of the
// data.
func (b *FileBackend) Put(ctx context.Context, key string, r io.Reader, size int64, opts PutOptions) error {
	p, err := b.path(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	if sf, ok := r.(spoolFile); ok && linkInto(sf.File, size, p) {
		return syncDir(filepath.Dir(p))
	}
	tmp, err := createTemp(filepath.Dir(p), ".put-")
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	_, err = io.Copy(tmp, io.LimitReader(r, size))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = renameFile(tmp.Name(), p)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("put %s: %w", key, err)
	}
	return syncDir(filepath.Dir(p))
}

// linkInto puts the file f (of size bytes) at p as a hard link: a link
// under a temporary name, renamed over p. The file is synced first (spool
// files already are, so it costs little), and its modification time is set
// to now, which the retention counts from, as for a copy. false means it
// was not done (another file system, a file of another size, links not
// supported...) and nothing was left behind: copy it instead.
func linkInto(f *os.File, size int64, p string) bool {
	st, err := f.Stat()
	if err != nil || st.Size() != size {
		return false
	}
	return linkStat(f, st, p)
}

// linkStat is linkInto for the file f whose fstat is st.
func linkStat(f *os.File, st fs.FileInfo, p string) bool {
	if !st.Mode().IsRegular() {
		return false
	}
	if off, err := f.Seek(0, io.SeekCurrent); err != nil || off != 0 {
		return false
	}
	if f.Sync() != nil {
		return false
	}
	if pst, err := os.Stat(p); err == nil && os.SameFile(st, pst) {
		// Stored by an earlier attempt (the process died before the spool
		// file was removed): renaming a link over another link to the same
		// file would do nothing and leave the temporary name behind.
		return true
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := filepath.Join(filepath.Dir(p), ".put-"+hex.EncodeToString(rnd[:]))
	if os.Link(f.Name(), tmp) != nil {
		return false
	}
	now := time.Now()
	if os.Chtimes(tmp, now, now) != nil || renameFile(tmp, p) != nil {
		os.Remove(tmp)
		return false
	}
	return true
}

// createTemp is os.CreateTemp(dir, prefix+"*") through openFile.
func createTemp(dir, prefix string) (*os.File, error) {
	var rnd [8]byte
	for range 100 {
		rand.Read(rnd[:])
		f, err := openFile(filepath.Join(dir, prefix+hex.EncodeToString(rnd[:])), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if !errors.Is(err, fs.ErrExist) {
			return f, err
		}
	}
	return nil, &fs.PathError{Op: "createtemp", Path: filepath.Join(dir, prefix+"*"), Err: fs.ErrExist}
}

// linkSpooled stores the finished spool file at path under key as a hard
// link and confirms it: the file now at key is the spool file itself
// (same device and inode) and of its size, so its content is the spool
// file's without reading either. The spool file is fsynced first unless
// synced says the caller knows it is (Finish fsynced it and nothing wrote
// it since), and its modification time is set to now (the retention
// counts from the upload, as for a copy) unless it was written less than
// freshSpoolFile ago. The link is made under the
// key's name directly (linkat creates the name atomically, for a complete
// file); a name already there (an earlier attempt, another object) is
// replaced with linkInto's link and rename. It does not sync the store
// directory: the caller does, once for every file it linked there, before
// it removes anything from the spool. linked false with a nil error means
// it could not link (no such spool file, another file system...) and
// nothing was stored: store it with Put instead.
func (b *FileBackend) linkSpooled(path, key string, synced bool) (dir string, linked bool, err error) {
	p, err := b.path(key)
	if err != nil {
		return "", false, err
	}
	dir = filepath.Dir(p)
	// The spool file is opened only to fsync it or to replace a file
	// stored under key; otherwise its stat (by name: no other process
	// writes the spool) is all that is needed.
	var f *os.File
	open := func() bool {
		if f == nil {
			if f, err = openFile(path, os.O_RDONLY, 0); err != nil {
				f = nil
			}
		}
		return f != nil
	}
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	if !synced && (!open() || f.Sync() != nil) {
		return "", false, nil
	}
	st, err := os.Stat(path)
	if err != nil || !st.Mode().IsRegular() {
		return "", false, nil
	}
	if now := time.Now(); now.Sub(st.ModTime()) > freshSpoolFile {
		if os.Chtimes(path, now, now) != nil {
			return "", false, nil
		}
	}
	err = os.Link(path, p)
	if errors.Is(err, fs.ErrNotExist) { // the key's directory is new
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return "", false, fmt.Errorf("put %s: %w", key, err)
		}
		err = os.Link(path, p)
	}
	switch {
	case errors.Is(err, fs.ErrExist):
		if !open() || !linkStat(f, st, p) {
			return "", false, nil
		}
	case err != nil:
		return "", false, nil
	}
	pst, err := os.Stat(p)
	if err != nil {
		return "", false, fmt.Errorf("confirm %s: %w", key, err)
	}
	if !os.SameFile(st, pst) || pst.Size() != st.Size() {
		return "", false, fmt.Errorf("%w: %s is not the spool file %s after linking it", ErrVerify, key, path)
	}
	return dir, true, nil
}

// freshSpoolFile is how recently a spool file must have been written for
// linkSpooled to keep its modification time (Finish wrote it a moment
// ago: what the retention counts from is then the upload, give or take
// this) instead of setting it to now, one utimensat and an inode update
// fewer per file.
const freshSpoolFile = time.Minute

// Stat returns the file's size and CRC-32C (computed by reading it).
func (b *FileBackend) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	p, err := b.path(key)
	if err != nil {
		return ObjectInfo{}, err
	}
	sum, n, err := fileCRC32C(p)
	if errors.Is(err, fs.ErrNotExist) {
		return ObjectInfo{}, fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("stat %s: %w", key, err)
	}
	return ObjectInfo{Key: key, Size: n, ContentType: mime.TypeByExtension(filepath.Ext(p)), CRC32C: sum, HasCRC32C: true}, nil
}

// Open opens the file.
func (b *FileBackend) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	p, err := b.path(key)
	if err != nil {
		return nil, err
	}
	f, err := openFile(p, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	return f, err
}

// URL returns a file:// URL of the file (expiry does not apply).
func (b *FileBackend) URL(ctx context.Context, key string, expiry time.Duration) (string, error) {
	p, err := b.path(key)
	if err != nil {
		return "", err
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(abs); errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}).String(), nil
}

// Retain removes files under prefix last modified more than lifetime
// ago, and directories left empty.
func (b *FileBackend) Retain(ctx context.Context, prefix string, lifetime time.Duration) error {
	if lifetime <= 0 {
		return nil
	}
	root := b.Dir
	if prefix != "" {
		p, err := b.path(strings.TrimSuffix(prefix, "/"))
		if err != nil {
			return err
		}
		root = p
	}
	cutoff := time.Now().Add(-lifetime)
	var dirs []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if d.IsDir() {
			if p != root {
				dirs = append(dirs, p)
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		if info, err := d.Info(); err == nil && info.ModTime().Before(cutoff) {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
		return nil
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		os.Remove(dirs[i]) // fails, harmlessly, unless empty
	}
	return err
}

// S3Backend stores objects in an S3-compatible bucket.
type S3Backend struct {
	cfg    S3Config
	client *minio.Client
}

// newS3Backend builds the client; it does not contact the server.
func newS3Backend(c S3Config) (*S3Backend, error) {
	ak := c.AccessKey
	if ak == "" {
		ak = os.Getenv("AWS_ACCESS_KEY_ID")
	}
	sk, err := c.secretKey()
	if err != nil {
		return nil, fmt.Errorf("recording: s3 secret_key_file: %w", err)
	}
	cl, err := minio.New(c.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(ak, sk, ""),
		Secure: c.UseTLS,
		Region: c.Region,
		// Checksums go in trailers, so the server verifies every upload.
		TrailingHeaders: !c.DisableChecksum,
		// The uploader retries with its own backoff.
		MaxRetries: 2,
	})
	if err != nil {
		return nil, fmt.Errorf("recording: s3 client: %w", err)
	}
	return &S3Backend{cfg: c, client: cl}, nil
}

// s3Error marks err with ErrAccessDenied when the store refused the
// request for its credentials or permissions, so that the log says what
// to fix (over HEAD, S3 itself says no more than "Access Denied.").
func s3Error(err error) error {
	er := minio.ToErrorResponse(err)
	switch {
	case er.Code == "AccessDenied", er.Code == "InvalidAccessKeyId", er.Code == "SignatureDoesNotMatch",
		er.StatusCode == http.StatusForbidden:
		return fmt.Errorf("%w: %w", ErrAccessDenied, err)
	}
	return err
}

// Client returns the underlying minio client.
func (b *S3Backend) Client() *minio.Client { return b.client }

// Prepare checks the bucket exists and creates it when allowed.
func (b *S3Backend) Prepare(ctx context.Context) error {
	ok, err := b.client.BucketExists(ctx, b.cfg.Bucket)
	if err != nil {
		return fmt.Errorf("s3 bucket %q at %s: %w", b.cfg.Bucket, b.cfg.Endpoint, s3Error(err))
	}
	if ok {
		return nil
	}
	if !b.cfg.CreateBucket {
		return fmt.Errorf("%w: %q at %s (and s3.create_bucket is false)", ErrNoBucket, b.cfg.Bucket, b.cfg.Endpoint)
	}
	err = b.client.MakeBucket(ctx, b.cfg.Bucket, minio.MakeBucketOptions{Region: b.cfg.Region})
	if err != nil {
		code := minio.ToErrorResponse(err).Code
		if code == "BucketAlreadyOwnedByYou" || code == "BucketAlreadyExists" {
			return nil
		}
		return fmt.Errorf("s3 create bucket %q at %s: %w", b.cfg.Bucket, b.cfg.Endpoint, s3Error(err))
	}
	return nil
}

// Put uploads the object with a full-object CRC-32C the server verifies
// (unless s3.disable_checksum).
func (b *S3Backend) Put(ctx context.Context, key string, r io.Reader, size int64, opts PutOptions) error {
	po := minio.PutObjectOptions{ContentType: opts.ContentType, UserMetadata: opts.Metadata}
	if !b.cfg.DisableChecksum {
		// Sent as a trailer, verified and kept by the server (also for
		// multipart uploads): Stat returns it for the manager to compare.
		po.Checksum = minio.ChecksumFullObjectCRC32C
	}
	_, err := b.client.PutObject(ctx, b.cfg.Bucket, key, r, size, po)
	if err != nil {
		return fmt.Errorf("s3 put %s/%s: %w", b.cfg.Bucket, key, s3Error(err))
	}
	return nil
}

// Stat returns the object's size, metadata and, when the server keeps a
// full-object CRC-32C, that checksum.
func (b *S3Backend) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	oi, err := b.client.StatObject(ctx, b.cfg.Bucket, key, minio.StatObjectOptions{Checksum: true})
	if err != nil {
		if er := minio.ToErrorResponse(err); er.StatusCode == http.StatusNotFound || er.Code == "NoSuchKey" {
			return ObjectInfo{}, fmt.Errorf("s3 %s/%s: %w", b.cfg.Bucket, key, ErrNotFound)
		}
		return ObjectInfo{}, fmt.Errorf("s3 stat %s/%s: %w", b.cfg.Bucket, key, err)
	}
	info := ObjectInfo{Key: key, Size: oi.Size, ContentType: oi.ContentType, Metadata: map[string]string{}}
	dec := new(mime.WordDecoder)
	for k, v := range oi.UserMetadata {
		if d, err := dec.DecodeHeader(v); err == nil {
			v = d
		}
		info.Metadata[strings.ToLower(k)] = v
	}
	if oi.ChecksumCRC32C != "" && (oi.ChecksumMode == "" || strings.EqualFold(oi.ChecksumMode, "FULL_OBJECT")) {
		if raw, err := base64.StdEncoding.DecodeString(oi.ChecksumCRC32C); err == nil && len(raw) == 4 {
			info.CRC32C, info.HasCRC32C = binary.BigEndian.Uint32(raw), true
		}
	}
	return info, nil
}

// Open returns the object's content.
func (b *S3Backend) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	if _, err := b.Stat(ctx, key); err != nil {
		return nil, err
	}
	o, err := b.client.GetObject(ctx, b.cfg.Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("s3 get %s/%s: %w", b.cfg.Bucket, key, err)
	}
	return o, nil
}

// URL returns a pre-signed GET URL valid for expiry (s3.presign_expiry when 0).
func (b *S3Backend) URL(ctx context.Context, key string, expiry time.Duration) (string, error) {
	if expiry <= 0 {
		expiry = b.cfg.PresignExpiry
	}
	u, err := b.client.PresignedGetObject(ctx, b.cfg.Bucket, key, expiry, nil)
	if err != nil {
		return "", fmt.Errorf("s3 presign %s/%s: %w", b.cfg.Bucket, key, err)
	}
	return u.String(), nil
}

// lifecycleRuleID names the bucket lifecycle rule Retain manages.
const lifecycleRuleID = "hotline-recordings-retention"

// Retain sets (or replaces) a lifecycle rule expiring objects under prefix
// after lifetime, rounded up to whole days; other rules are kept.
func (b *S3Backend) Retain(ctx context.Context, prefix string, lifetime time.Duration) error {
	if lifetime <= 0 {
		return nil
	}
	days := int((lifetime + 24*time.Hour - 1) / (24 * time.Hour))
	conf, err := b.client.GetBucketLifecycle(ctx, b.cfg.Bucket)
	if err != nil {
		if minio.ToErrorResponse(err).Code != "NoSuchLifecycleConfiguration" {
			return fmt.Errorf("s3 get lifecycle of %q: %w", b.cfg.Bucket, err)
		}
		conf = lifecycle.NewConfiguration()
	}
	rules := conf.Rules[:0]
	for _, r := range conf.Rules {
		if r.ID != lifecycleRuleID {
			rules = append(rules, r)
		}
	}
	conf.Rules = append(rules, lifecycle.Rule{
		ID:         lifecycleRuleID,
		Status:     "Enabled",
		RuleFilter: lifecycle.Filter{Prefix: prefix},
		Expiration: lifecycle.Expiration{Days: lifecycle.ExpirationDays(days)},
	})
	if err := b.client.SetBucketLifecycle(ctx, b.cfg.Bucket, conf); err != nil {
		return fmt.Errorf("s3 set lifecycle of %q: %w", b.cfg.Bucket, err)
	}
	return nil
}
