// Runs a Jenkinsfile's Declarative pipeline with Groovy alone: the blocks (pipeline, stages,
// stage, steps, when, post) and the steps (withCredentials, lock, milestone, input,
// parallel, junit, ...) are closures that record what they were asked, and `sh` runs
// for real in the workspace with the environment the wrappers built.
//
//   groovy harness.groovy JENKINSFILE SCENARIO.json
//
// SCENARIO: {"workspace": DIR, "env": {...}, "credentials": {id: {"kind": "file"|"text",
// "value": ...}}, "approver": "jane", "trace": FILE}. The trace (JSON) lists the stages
// run and skipped, the steps' arguments and every shell step's exit code. Exit 0 when the
// pipeline passed, 1 when it failed (its error is in the trace and on stderr).

import groovy.json.JsonOutput
import groovy.json.JsonSlurperClassic

def jenkinsfile = new File(args[0])
def scenario = new JsonSlurperClassic().parse(new File(args[1]))
def workspace = new File(scenario.workspace as String)
def credentialStore = scenario.credentials ?: [:]
def trace = [stages: [], skipped: [], sh: [], locks: [], milestones: [], inputs: [],
             junit: [], archived: [], credentials: [], parallel: [], echo: [], error: null]

def env = new LinkedHashMap<String, String>()
env.putAll(System.getenv())
env.putAll(scenario.env ?: [:])
env.WORKSPACE = workspace.absolutePath

class StepFailed extends RuntimeException {
    StepFailed(String message) { super(message) }
}

// The environment wrappers change, restored on the way out (withEnv, withCredentials).
def withVars = { Map<String, String> vars, Closure body ->
    def saved = [:]
    vars.each { k, v -> saved[k] = env.containsKey(k) ? env[k] : null; env[k] = v }
    try {
        return body.call()
    } finally {
        saved.each { k, v -> if (v == null) { env.remove(k) } else { env[k] = v } }
    }
}

def jb = new Binding()
jb.setVariable('env', env)
jb.setVariable('any', 'any')
env.each { k, v -> if (k ==~ /[A-Z_][A-Z0-9_]*/) { jb.setVariable(k, v) } }

jb.setVariable('sh', { arg ->
    String script = arg instanceof Map ? arg.script : arg.toString()
    def pb = new ProcessBuilder(['sh', '-xe', '-c', script.stripIndent()])
    pb.directory(workspace)
    pb.environment().clear()
    pb.environment().putAll(env.findAll { k, v -> v != null })
    pb.redirectErrorStream(true)
    def proc = pb.start()
    def out = proc.inputStream.getText('UTF-8')
    int code = proc.waitFor()
    System.err.print(out)
    trace.sh << [code: code, env: [PROJECT: env.PROJECT, PICK: env.PICK, RUNNER_SHARD: env.RUNNER_SHARD],
                 script: script.stripIndent().trim()]
    if (arg instanceof Map && arg.returnStatus) { return code }
    if (code != 0) { throw new StepFailed("script returned exit code ${code}") }
    return (arg instanceof Map && arg.returnStdout) ? out : null
})
jb.setVariable('echo', { m -> trace.echo << m; System.err.println(m) })
jb.setVariable('error', { m -> throw new StepFailed(m.toString()) })
jb.setVariable('script', { Closure c -> c.call() })
jb.setVariable('readJSON', { Map a -> new JsonSlurperClassic().parse(new File(workspace, a.file as String)) })
jb.setVariable('withEnv', { List<String> pairs, Closure body ->
    def vars = [:]
    pairs.each { String p -> def i = p.indexOf('='); vars[p.substring(0, i)] = p.substring(i + 1) }
    withVars(vars, body)
})
jb.setVariable('file', { Map a -> [kind: 'file'] + a })
jb.setVariable('string', { Map a -> [kind: 'text'] + a })
jb.setVariable('withCredentials', { List bindings, Closure body ->
    def vars = [:]
    bindings.each { b ->
        def stored = credentialStore[b.credentialsId]
        if (stored == null || stored.kind != b.kind) {
            throw new StepFailed("Could not find credentials entry with ID '${b.credentialsId}'")
        }
        trace.credentials << [id: b.credentialsId, variable: b.variable]
        if (b.kind == 'file') {
            def f = File.createTempFile('secret', '.txt')
            f.deleteOnExit()
            f.text = stored.value
            vars[b.variable] = f.absolutePath
        } else {
            vars[b.variable] = stored.value
        }
    }
    withVars(vars, body)
})
jb.setVariable('lock', { Map a, Closure body -> trace.locks << a.resource; body.call() })
jb.setVariable('milestone', { Map a -> trace.milestones << a })
jb.setVariable('input', { Map a ->
    trace.inputs << [message: a.message, submitter: a.submitter, parameter: a.submitterParameter]
    if (!scenario.approver) { throw new StepFailed("input '${a.message}' was not approved") }
    return scenario.approver
})
jb.setVariable('parallel', { Map branches ->
    def failures = []
    branches.each { name, body ->
        if (name == 'failFast') { return }
        trace.parallel << name
        try { body.call() } catch (StepFailed e) { failures << "${name}: ${e.message}" }
    }
    if (failures) { throw new StepFailed("parallel branches failed: ${failures.join('; ')}") }
})
jb.setVariable('junit', { Map a -> trace.junit << a.testResults })
jb.setVariable('archiveArtifacts', { Map a -> trace.archived << a.artifacts })
jb.setVariable('buildDiscarder', { a -> a })
jb.setVariable('logRotator', { Map a -> a })
jb.setVariable('timeout', { Map a -> a })

// Declarative blocks: each closure runs with a delegate that records its sections.
class Sections {
    Map<String, Object> found = [:]
    boolean open = true
    def methodMissing(String name, Object args) {
        // Once read, a block's closures run their steps: names go on to the script.
        if (!open) { throw new MissingMethodException(name, Sections, args as Object[]) }
        def a = args as Object[]
        found[name] = a.length == 1 ? a[0] : a.toList()
        return null
    }
}

def runWith = { Closure c, Object delegate ->
    def copy = c.rehydrate(delegate, c.owner, c.thisObject)
    copy.resolveStrategy = Closure.DELEGATE_FIRST
    copy.call()
    if (delegate instanceof Sections) { delegate.open = false }
    return delegate
}

def stageList = []
jb.setVariable('pipeline', { Closure body ->
    def top = runWith(body, new Sections()).found
    if (top.environment instanceof Closure) {
        def c = top.environment.rehydrate(new EnvCollector(env: env), this, this)
        c.resolveStrategy = Closure.DELEGATE_FIRST
        c.call()
    }
    def stagesBlock = top.stages
    def holder = new StageCollector()
    runWith(stagesBlock, holder)
    String failure = null
    for (entry in holder.stages) {
        def name = entry[0]
        def sections = runWith(entry[1], new Sections()).found
        if (failure != null) { trace.skipped << name; continue }
        if (sections.when instanceof Closure) {
            def when = runWith(sections.when, new Sections()).found
            if (when.branch != null && when.branch != env.BRANCH_NAME) { trace.skipped << name; continue }
        }
        trace.stages << name
        try {
            sections.steps.call()
        } catch (StepFailed e) {
            failure = "${name}: ${e.message}"
        }
    }
    if (top.post instanceof Closure) {
        def post = runWith(top.post, new Sections()).found
        if (post.always instanceof Closure) { post.always.call() }
    }
    trace.error = failure
})

class StageCollector {
    List stages = []
    def stage(String name, Closure body) { stages << [name, body] }
}

class EnvCollector {
    Map env
    def propertyMissing(String name) { env[name] }
    def propertyMissing(String name, Object value) { env[name] = value.toString() }
}

def shell = new GroovyShell(jb)
def ok = true
try {
    shell.evaluate(jenkinsfile.getText('UTF-8'), 'Jenkinsfile')
    ok = trace.error == null
} catch (Throwable e) {
    trace.error = "${e.class.name}: ${e.message}"
    ok = false
}
new File(scenario.trace as String).text = JsonOutput.prettyPrint(JsonOutput.toJson(trace))
if (!ok) { System.err.println("pipeline failed: ${trace.error}") }
System.exit(ok ? 0 : 1)
