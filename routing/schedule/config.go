package schedule

// Config is a named set of opening hours in one time zone.
type Config struct {
	Name string `yaml:"name"`
	// Zone is an IANA time zone, e.g. Asia/Ho_Chi_Minh.
	Zone string `yaml:"zone"`
	// Weekly lists open hours per weekday as "HH:MM-HH:MM" ranges (end
	// exclusive, "24:00" allowed). A day not listed is closed.
	Weekly WeeklyHours `yaml:"weekly"`
	// Holidays are closed dates, YYYY-MM-DD.
	Holidays []string `yaml:"holidays"`
	// Overrides replace the weekly hours on one date.
	Overrides []OverrideConfig `yaml:"overrides"`
	// Bands name parts of the open hours (e.g. "late" from 16:00) that
	// rules can match on.
	Bands []BandConfig `yaml:"bands"`
}

// WeeklyHours are the open hours of each weekday.
type WeeklyHours struct {
	Mon []string `yaml:"mon"`
	Tue []string `yaml:"tue"`
	Wed []string `yaml:"wed"`
	Thu []string `yaml:"thu"`
	Fri []string `yaml:"fri"`
	Sat []string `yaml:"sat"`
	Sun []string `yaml:"sun"`
}

// byDay returns the ranges indexed by time.Weekday, with their YAML names.
func (w *WeeklyHours) byDay() ([7][]string, [7]string) {
	return [7][]string{w.Sun, w.Mon, w.Tue, w.Wed, w.Thu, w.Fri, w.Sat},
		[7]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}
}

// OverrideConfig replaces the hours of one date.
type OverrideConfig struct {
	Date   string   `yaml:"date"`
	Hours  []string `yaml:"hours"`
	Closed bool     `yaml:"closed"`
}

// BandConfig names a time band within open hours.
type BandConfig struct {
	Name string `yaml:"name"`
	// Hours is one "HH:MM-HH:MM" range.
	Hours string `yaml:"hours"`
	// Days limits the band to some weekdays (mon..sun); empty means all.
	Days []string `yaml:"days"`
}
