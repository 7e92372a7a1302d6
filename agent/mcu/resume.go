package mcu

import (
	"context"
	"errors"
	"fmt"

	"github.com/atota/atota/agent/plan"
	"github.com/atota/atota/atcmd"
)

// recover finishes what a previous run left, by the journal, before the
// versions are reported:
//
//   - an image committed (running on trial) whose version was not
//     reported yet: it is reported with its new version, and confirmed
//     once the report is made (the returned pendingReport);
//   - an image verified, or whose commit was under way: the commit is
//     made now (after reading the image back and checking it again) and
//     it is reported as above;
//   - an image on trial that the journal does not vouch for (no journal,
//     or one that lost track of it) is reverted at once: nothing would
//     report its version or confirm it, and running firmware whose
//     version nobody reports is worse than running the old one;
//   - a transfer that was downloading is resumed when the module
//     announces the same image again (see onDownload).
func (s *session) recover(ctx context.Context) (*pendingReport, error) {
	rec := s.j.transfer()
	tt, trial := s.cfg.Target.(trialTarget)
	var pending, confirmed string
	if trial {
		pending, confirmed = tt.Trial()
	}
	if rec != nil && (rec.Phase == recVerified || rec.Phase == recCommitting || rec.Phase == recCommitted && pending == rec.Image) && !s.trusted(rec) {
		// Written by a run that did not require the key this one does:
		// it is not put in place, and one on trial is given up.
		s.log.Warn("the image the journal holds was not verified with the key now required (--verify-key); it is dropped and the old image stays",
			"component", rec.Component, "version", rec.To)
		if trial && pending == rec.Image {
			if err := tt.Revert(); err != nil {
				return nil, err
			}
		}
		return nil, s.j.setTransfer(nil)
	}
	if rec != nil && rec.Phase != recDownloading && trial {
		switch {
		case pending == "" && confirmed == rec.Image:
			// Confirmed before the reset; only the journal lagged.
			s.log.Info("the update finished before the reset", "component", rec.Component, "version", rec.To)
			return nil, s.recordDone(*rec, s.cfg.Target.String())
		case pending == rec.Image:
			if rec.Phase != recCommitted {
				rec.Phase = recCommitted
				if err := s.j.setTransfer(rec); err != nil {
					return nil, err
				}
			}
			s.log.Info("the new image runs on trial: reporting its version, then confirming it", "component", rec.Component, "version", rec.To)
			return &pendingReport{s: s, rec: *rec, where: s.cfg.Target.String()}, nil
		case rec.Phase == recCommitted:
			s.log.Warn("the image committed before the reset does not run: the device went back to the old one (not confirmed in time)",
				"component", rec.Component, "version", rec.To, "running", s.cfg.Target.String())
			return nil, s.j.setTransfer(nil)
		}
	}
	if pending != "" && (rec == nil || rec.Image != pending) {
		s.log.Warn("reverting an image on trial that no journal vouches for; the old image runs", "image", pending, "target", s.cfg.Target.String())
		if err := tt.Revert(); err != nil {
			return nil, err
		}
	}
	switch {
	case rec == nil || rec.Phase == recDownloading:
		return nil, nil
	case rec.Phase == recCommitted:
		return &pendingReport{s: s, rec: *rec, where: s.cfg.Target.String()}, nil
	}
	return s.finishUpdate(ctx, *rec)
}

// finishUpdate commits an image a previous run verified: read back and
// checked again, AT+QIOTUPDATE=3 said again (the module may not have
// heard it), committed. An image that does not check out is dropped and
// the old version is reported.
func (s *session) finishUpdate(ctx context.Context, rec record) (*pendingReport, error) {
	s.log.Info("finishing the update verified before the reset", "component", rec.Component, "version", rec.To)
	if _, err := s.do(ctx, set("+QIOTUPDATE", atcmd.Int(3))); err != nil {
		if errors.Is(err, ErrLink) {
			return nil, err
		}
		s.log.Debug("AT+QIOTUPDATE=3 refused; going on", "err", err)
	}
	want := rec.image()
	img, err := s.cfg.Target.Open(ctx, ImageSpec{Component: rec.Component, Size: want.Size, Digests: want, Resume: rec.Image, Done: want.Size})
	if err != nil {
		if errors.Is(err, ErrResume) {
			s.log.Warn("the verified image is gone; the update starts over", "component", rec.Component, "err", err)
			return nil, s.j.setTransfer(nil)
		}
		return nil, err
	}
	drop := func(why string, err error) (*pendingReport, error) {
		if powerLost(err) {
			return nil, err
		}
		s.log.Error(why, "component", rec.Component, "version", rec.To, "err", err)
		img.Abort()
		return nil, s.j.setTransfer(nil)
	}
	if _, err := img.Sync(); err != nil {
		return drop("the verified image cannot be completed; the old image stays", err)
	}
	if err := complete(ctx, img); err != nil {
		return drop("the verified image cannot be completed; the old image stays", err)
	}
	got, err := digestImage(img, want.Size, s.cfg.CRC)
	if err != nil {
		return drop("reading the image back failed; the old image stays", err)
	}
	if what, _ := mismatch(want, got, s.cfg.CRC, nil); what != "" {
		return drop("the image in the target changed since it was verified; the old image stays", fmt.Errorf("%w: %s", ErrVerify, what))
	}
	rec.Phase = recCommitting
	if err := s.j.setTransfer(&rec); err != nil {
		return nil, err
	}
	where, err := img.Commit(ctx)
	if err != nil {
		return drop("the image could not be made the running one; the old image stays", err)
	}
	rec.Phase = recCommitted
	if err := s.j.setTransfer(&rec); err != nil {
		return nil, err
	}
	return &pendingReport{s: s, rec: rec, where: where, img: img}, nil
}

// trusted reports whether the journal's record r may be put in place:
// with Config.VerifyKey, only a package whose signature was verified with
// that key.
func (s *session) trusted(r *record) bool {
	key := s.cfg.VerifyKey
	return key == nil || r.Package != nil && r.Package.Key == keyIDOf(key)
}

// pendingReport is an image a previous run committed, whose new version
// this run reports; done confirms it once the report is made.
type pendingReport struct {
	s     *session
	rec   record
	where string
	img   Image // nil: reopened, or confirmed through the target
}

// done confirms the image and records the update.
func (p *pendingReport) done(ctx context.Context) error {
	s := p.s
	if err := s.confirm(ctx, p.img, p.rec); err != nil {
		return err
	}
	return s.recordDone(p.rec, p.where)
}

// confirm keeps a committed image for good: on the trial target, else on
// the image (img, or the one reopened from the record).
func (s *session) confirm(ctx context.Context, img Image, rec record) error {
	if tt, ok := s.cfg.Target.(trialTarget); ok {
		if err := tt.Confirm(); err != nil {
			return err
		}
		s.log.Info("image confirmed after its version was reported", "component", rec.Component, "version", rec.To)
		return nil
	}
	if img == nil {
		var err error
		want := rec.image()
		img, err = s.cfg.Target.Open(ctx, ImageSpec{Component: rec.Component, Size: want.Size, Digests: want, Resume: rec.Image, Done: want.Size})
		if err != nil {
			s.log.Debug("nothing to confirm", "component", rec.Component, "err", err)
			return nil
		}
	}
	defer img.Close()
	return img.Confirm()
}

// recordDone records in the journal and in the result that a component
// runs its new version.
func (s *session) recordDone(rec record, where string) error {
	if err := s.j.finish(rec.Component, rec.To); err != nil {
		return err
	}
	img := rec.image()
	s.res.Updated = append(s.res.Updated, Updated{
		Component: rec.Component, From: rec.From, To: rec.To,
		Digests: plan.Digests{Size: img.Size, MD5: img.MD5, SHA256: img.SHA256, CRC: img.CRC},
		SHA256:  rec.SHA256 != "", Resumed: rec.Size, Where: where,
		Package: rec.Package.kind(), PackageSize: rec.Package.fileSize(rec.Size), Signed: rec.Package.signed(),
	})
	return nil
}
