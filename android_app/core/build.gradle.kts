// The measurement core: plain Java, no Android and no third-party dependency, unit-tested on any JVM.
plugins {
    `java-library`
}

java {
    // The main classes are Java 8 level so they only use what Android 7.0 (minSdk 24) has and D8 has
    // nothing to desugar; the tests use the JDK 17 that builds everything.
    sourceCompatibility = JavaVersion.VERSION_1_8
    targetCompatibility = JavaVersion.VERSION_1_8
}

tasks.named<JavaCompile>("compileJava") {
    options.release.set(8)
    options.encoding = "UTF-8"
    options.compilerArgs.addAll(listOf("-Xlint:all", "-Xlint:-options"))
}

tasks.named<JavaCompile>("compileTestJava") {
    options.release.set(17)
    options.encoding = "UTF-8"
}

dependencies {
    testImplementation(libs.junit)
}

tasks.test {
    useJUnit()
    testLogging {
        events("failed")
        exceptionFormat = org.gradle.api.tasks.testing.logging.TestExceptionFormat.FULL
    }
}
