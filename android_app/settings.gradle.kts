// devicelab measurement app: `core` (plain Java, unit-tested anywhere) and `app` (the Android shell).
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "devicelab-android"
include(":core", ":app")
