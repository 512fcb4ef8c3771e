package main

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/waxseal/waxseal/locale"
)

// orgLanguage is the catalogs (with data_dir/locales' additions), the
// organisation's default language (default_language) and time zone
// (time_zone), for what the gateway writes to people: a recipient's saved
// language, which the key server tells, else the default.
func (fc *fileConfig) orgLanguage() (*locale.Catalogs, *locale.Locale, *time.Location, error) {
	locales, err := locale.Load(filepath.Join(fc.path(fc.DataDir), "locales"))
	if err != nil {
		return nil, nil, nil, err
	}
	l := locales.Default()
	if fc.DefaultLanguage != "" {
		if l = locales.Get(locales.Supported(fc.DefaultLanguage)); l == nil {
			return nil, nil, nil, fmt.Errorf("default_language %q: no catalog for it", fc.DefaultLanguage)
		}
	}
	tz := time.UTC
	if fc.TimeZone != "" {
		if tz, err = time.LoadLocation(fc.TimeZone); err != nil {
			return nil, nil, nil, fmt.Errorf("time_zone: %w", err)
		}
	}
	return locales, l, tz, nil
}
