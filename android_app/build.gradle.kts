// Versions live in gradle/libs.versions.toml; each module configures itself.
plugins {
    alias(libs.plugins.android.application) apply false
}
