package werfsync

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

const digest = "0123456789abcdef0123456789abcdef0123456789abcdef01234567"

func TestCacheOperations(t *testing.T) {
	s, home := openTemp(t)
	if _, found, err := s.GetStagesByDigest("proj", digest); err != nil || found {
		t.Fatalf("empty cache: found=%v err=%v", found, err)
	}
	stages := []StageID{{digest, 1647350000123}, {digest, 1647350000456}}
	if err := s.StoreStagesByDigest("proj", digest, stages); err != nil {
		t.Fatal(err)
	}
	got, found, err := s.GetStagesByDigest("proj", digest)
	if err != nil || !found || !slices.Equal(got, stages) {
		t.Fatalf("GetStagesByDigest = %v, %v, %v", got, found, err)
	}
	// werf's bytes on disk.
	raw, err := os.ReadFile(filepath.Join(home, "shared_context/storage/stages_storage_cache/1/proj", digest))
	want := `{"stages":[{"digest":"` + digest + `","uniqueID":1647350000123},{"digest":"` + digest + `","uniqueID":1647350000456}]}` + "\n"
	if err != nil || string(raw) != want {
		t.Fatalf("record file %q, %v", raw, err)
	}

	if err := s.StoreStagesByDigest("proj", "other", nil); err != nil {
		t.Fatal(err)
	}
	if got, found, err := s.GetStagesByDigest("proj", "other"); err != nil || !found || len(got) != 0 {
		t.Fatalf("cached without stages: %v, %v, %v", got, found, err)
	}
	if all, found, err := s.GetAllStages("proj"); err != nil || !found || len(all) != 2 {
		t.Fatalf("GetAllStages = %v, %v, %v", all, found, err)
	}
	if err := s.DeleteStagesByDigest("proj", digest); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAllStages("proj"); err != nil {
		t.Fatal(err)
	}
	if _, found, err := s.GetAllStages("proj"); err != nil || found {
		t.Fatalf("after DeleteAllStages: found=%v err=%v", found, err)
	}
	if _, _, err := s.GetAllStages("../escape"); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("path-escaping project: %v", err)
	}
	if got := (StageID{"abc", 42}).String(); got != "abc-42" {
		t.Fatalf("StageID.String() = %q", got)
	}
}

func TestParseAddressAndOpenAddress(t *testing.T) {
	a, err := ParseAddress("kubernetes://ns:ctx@base64:YTpi")
	if err != nil {
		t.Fatal(err)
	}
	if a.Mode != ModeKubernetes || a.Namespace != "ns" || a.Context != "ctx" || string(a.KubeconfigData) != "a:b" || a.KubeconfigPath != "" {
		t.Fatalf("parsed %+v", a)
	}
	if a.Text != "kubernetes://ns:ctx@base64:YTpi" || a.Redacted == a.Text {
		t.Fatalf("text %q redacted %q", a.Text, a.Redacted)
	}
	if h, err := ParseAddress("https://synchronization.werf.io"); err != nil || h.Mode != ModeHTTP || h.URL == "" {
		t.Fatalf("http address: %+v, %v", h, err)
	}
	if l, err := ParseAddress(":local"); err != nil || l.Mode != ModeLocal {
		t.Fatalf(":local: %+v, %v", l, err)
	}
	var werr *Error
	if _, err := ParseAddress("ftp://x"); !errors.Is(err, ErrInvalidArgument) || !errors.As(err, &werr) {
		t.Fatalf("ftp address: %v", err)
	}

	home := t.TempDir()
	s, err := OpenAddress(":local", home)
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	t.Setenv("WERF_SYNCHRONIZATION", "")
	if s, err := OpenAddress("", home); err != nil {
		t.Fatal(err)
	} else {
		_ = s.Close()
	}
	if _, err := OpenAddress("kubernetes://ns", home); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("kubernetes address: %v", err)
	}
}
