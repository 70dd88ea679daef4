def lambda_handler(event, context):
    query = event["queryStringParameters"]
    return int(query["a"]) + int(query["b"])
